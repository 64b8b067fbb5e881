#include "data/search.h"

#include <cstdlib>
#include <optional>

#include "common/clock.h"
#include "common/error.h"

namespace atelier::data {

std::string score_window_sql(double low, double high, store::Params& p) {
  p.push_back(low);
  p.push_back(high);
  return "EXISTS (SELECT 1 FROM sample_labels q WHERE q.dataset_id = s.dataset_id AND q.seq = s.seq AND q.score >= ? "
         "AND q.score <= ?)";
}

namespace {

// The condition's string `key`, when present, as " AND <column> = ?".
void add_text_match(const json& c, const char* key, const char* column, std::string& sql, store::Params& p) {
  if (!c.contains(key)) return;
  if (!c[key].is_string()) throw bad_request(std::string("Invalid parameter search_conditions.") + key);
  sql += std::string(" AND ") + column + " = ?";
  p.push_back(c[key].get<std::string>());
}

// sample_time: month | day | yyyyMMdd-yyyyMMdd (span <= 30 days), as a
// half-open window of sample times.
std::string sample_time_sql(const json& t, store::Params& p) {
  if (!t.is_string()) throw bad_request("Invalid parameter search_conditions.sample_time");
  std::string v = t;
  int64_t now = clock::now_ms(), day = 86400000, from_ms, to_ms;
  if (v == "month") {
    from_ms = now - 30 * day;
    to_ms = now + day;
  } else if (v == "day") {
    from_ms = (now / day - 1) * day;
    to_ms = now + day;
  } else {
    std::optional<int64_t> a, b;
    if (v.size() == 17 && v[8] == '-') {
      a = clock::parse_sdk_date(v.substr(0, 8) + "T000000Z");
      b = clock::parse_sdk_date(v.substr(9) + "T000000Z");
    }
    if (!a.has_value() || !b.has_value() || b.value() < a.value() || b.value() - a.value() > 30 * day)
      throw bad_request("Invalid parameter search_conditions.sample_time: month, day or yyyyMMdd-yyyyMMdd spanning at most 30 days");
    from_ms = a.value();
    to_ms = b.value() + day;  // the end day counts whole
  }
  p.push_back(from_ms);
  p.push_back(to_ms);
  return " AND s.sample_time >= ? AND s.sample_time < ?";
}

// metadata, a SearchProp {op, props: {key: [values]}}: samples with each
// (AND) or any (OR) key among the values; "" when props is empty.
std::string metadata_sql(const json& m, store::Params& p) {
  if (!m.is_object() || !m.contains("props") || !m["props"].is_object())
    throw bad_request("Invalid parameter search_conditions.metadata.props: must be an object");
  std::string op = m.value("op", std::string("AND"));
  if (op != "AND" && op != "OR") throw bad_request("Invalid parameter search_conditions.metadata.op: AND or OR");
  std::string part;
  for (auto& [k, vals] : m["props"].items()) {
    std::string e = "EXISTS (SELECT 1 FROM sample_metadata m WHERE m.dataset_id = s.dataset_id AND m.seq = s.seq AND m.key = ?";
    p.push_back(k);
    if (!vals.is_null()) {  // null: the key is present, any value
      if (!vals.is_array()) throw bad_request("Invalid parameter search_conditions.metadata.props." + k + ": must be an array");
      if (!vals.empty()) {
        e += " AND m.value IN (";
        for (size_t i = 0; i < vals.size(); ++i) {
          if (!vals[i].is_string())
            throw bad_request("Invalid parameter search_conditions.metadata.props." + k + ": values must be strings");
          e += i ? ", ?" : "?";
          p.push_back(vals[i].get<std::string>());
        }
        e += ")";
      }
    }
    part += (part.empty() ? "" : " " + op + " ") + e + ")";
  }
  return part.empty() ? "" : " AND (" + part + ")";
}

// score, "low-high": a label of the sample scored within the window.
std::string score_sql(const json& score, store::Params& p) {
  std::string v = score.is_string() ? score.get<std::string>() : "";
  size_t dash = v.find('-');
  char* e1 = nullptr;
  char* e2 = nullptr;
  std::string a = dash == std::string::npos ? "" : v.substr(0, dash), b = dash == std::string::npos ? "" : v.substr(dash + 1);
  double lo = std::strtod(a.c_str(), &e1), hi = std::strtod(b.c_str(), &e2);
  if (a.empty() || b.empty() || *e1 || *e2 || !(lo >= 0 && hi <= 1 && lo <= hi))
    throw bad_request("Invalid parameter search_conditions.score: must be low-high within 0..1, e.g. 0.5-1");
  return " AND " + score_window_sql(lo, hi, p);
}

// label_list, {op, labels: [{name, type}]}: samples carrying any (OR) or
// each (AND) of the labels; "" when the list is empty.
std::string label_list_sql(const json& ll, store::Params& p) {
  if (!ll.is_object() || !ll.contains("labels") || !ll["labels"].is_array())
    throw bad_request("Invalid parameter search_conditions.label_list.labels: must be an array");
  std::string op = ll.value("op", std::string("OR"));
  if (op != "OR" && op != "AND") throw bad_request("Invalid parameter search_conditions.label_list.op: OR or AND");
  std::string part;
  for (auto& l : ll["labels"]) {
    if (!l.is_object() || !l.contains("name") || !l["name"].is_string())
      throw bad_request("Invalid parameter search_conditions.label_list.labels: each needs a name");
    std::string e = "EXISTS (SELECT 1 FROM sample_labels x WHERE x.dataset_id = s.dataset_id AND x.seq = s.seq AND x.label_name = ?";
    p.push_back(l["name"].get<std::string>());
    if (l.contains("type") && l["type"].is_number_integer()) {
      e += " AND x.label_type = ?";
      p.push_back(l["type"].get<int64_t>());
    }
    part += (part.empty() ? "" : " " + op + " ") + e + ")";
  }
  return part.empty() ? "" : " AND (" + part + ")";
}

}  // namespace

std::string condition_sql(const json& c, store::Params& p) {
  std::string sql = "1 = 1";
  if (!c.is_object()) throw bad_request("Invalid parameter search_conditions: each condition must be an object");
  add_text_match(c, "sample_name", "s.name", sql, p);
  if (c.contains("sample_time")) sql += sample_time_sql(c["sample_time"], p);
  if (c.contains("metadata")) sql += metadata_sql(c["metadata"], p);
  add_text_match(c, "sample_dir", "s.dir", sql, p);
  if (c.contains("score")) sql += score_sql(c["score"], p);
  if (c.contains("hard")) {
    std::string h = c["hard"].is_string() ? c["hard"].get<std::string>() : c["hard"].dump();
    if (h != "0" && h != "1") throw bad_request("Invalid parameter search_conditions.hard: must be 0 or 1");
    sql += " AND s.hard = ?";
    p.push_back(h == "1" ? 1 : 0);
  }
  add_text_match(c, "labeler", "s.annotated_by", sql, p);
  if (c.contains("label_list")) sql += label_list_sql(c["label_list"], p);
  return sql;
}

}  // namespace atelier::data
