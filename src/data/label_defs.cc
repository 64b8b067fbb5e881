#include "data/label_defs.h"

#include <algorithm>

#include "common/error.h"
#include "data/annotation_checks.h"
#include "data/types.h"

namespace atelier::data {

void check_property(const json& prop, int type, const std::string& where) {
  if (!prop.is_object()) throw bad_request("Invalid parameter " + where + ": must be an object");
  for (auto& [k, v] : prop.items())
    if (!v.is_string()) throw bad_request("Invalid parameter " + where + ": value of " + k + " must be a string");
  if (prop.contains("@modelarts:color")) {
    std::string c = prop["@modelarts:color"];
    if (c.size() != 7 || c[0] != '#' || c.find_first_not_of("0123456789abcdefABCDEF", 1) != std::string::npos)
      throw bad_request("Invalid parameter " + where + ": @modelarts:color must look like #3399ff");
  }
  if (type == 102 && (!prop.contains("@modelarts:from_type") || !prop.contains("@modelarts:to_type")))
    throw bad_request("Invalid parameter " + where + ": a relation label needs @modelarts:from_type and @modelarts:to_type");
}

LabelDef read_label(const JsonIn& in, int dataset_type) {
  LabelDef l;
  l.name = in.str("name");
  if (utf8_length(l.name) > 1024) in.fail("name", "must be at most 1024 characters");
  for (char c : l.name)
    if (c == '\0' || c == '\n' || c == '\r' || c == '\t') in.fail("name", "must not contain control characters");
  const auto& allowed = label_types_for(dataset_type);
  l.type = int(in.opt_int("type", 0, 1000).value_or(*allowed.begin()));
  if (!allowed.count(l.type))
    in.fail("type", "label type " + std::to_string(l.type) + " does not fit dataset type " + std::to_string(dataset_type));
  if (in.has("property")) l.property = in.node()["property"];
  check_property(l.property, l.type, in.field("property"));
  if (in.has("attributes")) {
    const json& a = in.arr("attributes");
    for (auto& x : a)
      if (!x.is_object() || !x.contains("name") || !x["name"].is_string())
        in.fail("attributes", "each attribute must be an object with a name");
    l.attributes = a;
  }
  return l;
}

json label_json(const store::Row& r) {
  json j = json::object();
  j["name"] = r.str("name");
  j["type"] = r.i64("type");
  j["property"] = json::parse(r.str("property"), nullptr, false);
  json attrs = json::parse(r.str("attributes"), nullptr, false);
  if (attrs.is_array() && !attrs.empty()) j["attributes"] = attrs;
  return j;
}

std::vector<store::Row> dataset_labels(store::Database& db, const std::string& ds) {
  return db.query("SELECT * FROM dataset_labels WHERE dataset_id = ? ORDER BY pos", {ds});
}

void insert_labels(store::Database& db, const std::string& ds, const std::vector<LabelDef>& labels) {
  std::set<std::pair<int, std::string>> names;
  std::set<std::string> shortcuts;
  for (auto& r : dataset_labels(db, ds)) {
    names.insert({int(r.i64("type")), r.str("name")});
    json p = json::parse(r.str("property"), nullptr, false);
    if (p.is_object() && p.contains("@modelarts:shortcut")) shortcuts.insert(p["@modelarts:shortcut"].get<std::string>());
  }
  int64_t pos = db.query_one("SELECT COALESCE(MAX(pos), 0) AS p FROM dataset_labels WHERE dataset_id = ?", {ds})->i64("p");
  for (auto& l : labels) {
    if (!names.insert({l.type, l.name}).second)
      throw ApiError(400, "ModelArts.4411", "Label " + l.name + " already exists.");
    if (l.property.contains("@modelarts:shortcut") && !shortcuts.insert(l.property["@modelarts:shortcut"].get<std::string>()).second)
      throw ApiError(400, "ModelArts.4412", "The shortcut of label " + l.name + " is used by another label.");
    json prop = l.property;
    prop.erase("@modelarts:rename_to");
    db.exec("INSERT INTO dataset_labels (dataset_id, name, type, property, attributes, pos) VALUES (?, ?, ?, ?, ?, ?)",
            {ds, l.name, l.type, prop.dump(), l.attributes.dump(), ++pos});
  }
}

std::set<std::pair<int, std::string>> defined_labels(store::Database& db, const std::string& ds) {
  std::set<std::pair<int, std::string>> out;
  for (auto& r : db.query("SELECT name, type FROM dataset_labels WHERE dataset_id = ?", {ds}))
    out.insert({int(r.i64("type")), r.str("name")});
  return out;
}

void define_labels(store::Database& db, const std::string& ds, int type, const json& labels,
                   std::set<std::pair<int, std::string>>& defined) {
  if (std::all_of(labels.begin(), labels.end(), [&](const json& l) {
        return defined.count({label_type_of(l, -1), label_name_of(l)}) > 0 || label_name_of(l).empty();
      }))
    return;  // the usual case: nothing new
  std::vector<LabelDef> fresh;
  auto with_new = defined;
  for (size_t i = 0; i < labels.size(); ++i) {
    int t = label_type_of(labels[i], -1);
    std::string name = label_name_of(labels[i]);
    if (name.empty() || with_new.count({t, name})) continue;
    std::string where = "annotation[" + std::to_string(i) + "]";
    json def = {{"name", name}, {"type", t}};
    if (t == 102) {
      // A new relation label takes its end types from the entities it joins here.
      json prop = labels[i].value("property", json::object());
      json types = json::object();
      for (const char* end : {"from", "to"}) {
        std::string eid = prop.is_object() ? prop.value(std::string("@modelarts:") + end, "") : "";
        for (auto& e : labels)
          if (e.is_object() && e.value("id", "") == eid && !eid.empty())
            types[std::string("@modelarts:") + end + "_type"] = e.value("name", "");
      }
      def["property"] = types;
    }
    fresh.push_back(read_label(JsonIn(def, where), type));
    with_new.insert({t, name});
  }
  if (fresh.empty()) return;
  insert_labels(db, ds, fresh);
  defined = std::move(with_new);
}

json adopt_labels(store::Database& db, const std::string& ds, int type, const json& labels, const SampleFacts& facts,
                  std::set<std::pair<int, std::string>>& defined, const std::string& annotated_by) {
  json checked = validated_labels(type, labels, facts, annotated_by);
  define_labels(db, ds, type, checked, defined);
  return checked;
}

}  // namespace atelier::data
