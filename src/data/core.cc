#include "data/core.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <deque>

#include "common/ids.h"

namespace atelier::data {

using http::json_response;

const std::set<int>& label_types_for(int dataset_type) {
  static const std::map<int, std::set<int>> kTypes = [] {
    std::map<int, std::set<int>> m;
    for (int t : kDatasetTypes) m[t] = {t};
    m[102] = {102, 103};
    m[900] = {0, 1, 3, 100, 101, 102, 103, 200, 201, 202, 600};
    return m;
  }();
  static const std::set<int> kNone;
  auto it = kTypes.find(dataset_type);
  return it == kTypes.end() ? kNone : it->second;
}

int sample_type_for(int dataset_type) {
  if (dataset_type < 100) return 0;
  if (dataset_type < 200) return 1;
  if (dataset_type < 300) return 2;
  if (dataset_type == 400) return 4;
  if (dataset_type == 600) return 6;
  return 9;
}

bool is_text_type(int t) { return t == 100 || t == 101 || t == 102; }

bool extension_fits(int dataset_type, const std::string& key) {
  auto dot = key.rfind('.');
  if (key.empty() || key.back() == '/') return false;
  if (dataset_type == 900) return true;
  if (dot == std::string::npos) return false;
  std::string ext = key.substr(dot + 1);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> image = {"jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"};
  static const std::set<std::string> text = {"txt", "csv", "tsv"};
  static const std::set<std::string> audio = {"wav", "mp3", "flac", "ogg", "m4a", "aac", "wma"};
  static const std::set<std::string> video = {"mp4", "avi", "mov", "mkv", "flv", "webm"};
  static const std::set<std::string> table = {"csv"};
  switch (sample_type_for(dataset_type)) {
    case 0: return image.count(ext) > 0;
    case 1: return text.count(ext) > 0;
    case 2: return audio.count(ext) > 0;
    case 4: return table.count(ext) > 0;
    case 6: return video.count(ext) > 0;
    default: return true;
  }
}

ApiError dataset_missing(const std::string& id) { return ApiError(400, "ModelArts.4352", "Dataset " + id + " does not exist."); }

void check_name(const JsonIn& in, const char* field, const std::string& v, size_t max) {
  if (v.empty() || utf8_length(v) > max) in.fail(field, "must be 1 to " + std::to_string(max) + " characters");
  for (unsigned char c : v)
    if (!(std::isalnum(c) || c == '_' || c == '-' || c >= 0x80)) in.fail(field, "may hold only letters, digits, '_' and '-'");
}

void check_description(const JsonIn& in, const std::string& v) {
  if (utf8_length(v) > 256) in.fail("description", "must be at most 256 characters");
  if (v.find_first_of("^!<>=&\"'") != std::string::npos) in.fail("description", "must not contain any of ^!<>=&\"'");
}

obs::ObsPath folder_path(const JsonIn& in, const char* field, const std::string& v) {
  if (v.size() < 3 || v.size() > 700) in.fail(field, "must be 3 to 700 characters");
  auto p = obs::parse_path(v, in.field(field));
  if (p.key.empty()) in.fail(field, "must be a folder inside a bucket, not the bucket itself");
  if (p.key.back() != '/') in.fail(field, "must end with '/'");
  return p;
}

std::string obs_str(const obs::ObsPath& p) { return "/" + p.bucket + "/" + p.key; }

void bump(Database& db, const std::string& ds, const std::string& key, int64_t delta) {
  if (delta == 0) return;
  db.exec("INSERT INTO dataset_counters (dataset_id, key, value) VALUES (?, ?, ?) "
          "ON CONFLICT (dataset_id, key) DO UPDATE SET value = dataset_counters.value + excluded.value",
          {ds, key, delta});
}

std::map<std::string, int64_t> counters(Database& db, const std::string& ds) {
  std::map<std::string, int64_t> out;
  for (auto& r : db.query("SELECT key, value FROM dataset_counters WHERE dataset_id = ?", {ds}))
    out[r.str("key")] = r.i64("value");
  return out;
}

std::string label_key(const char* kind, int type, const std::string& name) {
  return std::string(kind) + ":" + std::to_string(type) + ":" + name;
}

int label_type_of(const json& l, int fallback) {
  auto it = l.find("type");
  if (it == l.end() || !it->is_number_integer()) return fallback;
  if (it->is_number_unsigned()) return it->get<uint64_t>() > uint64_t(INT_MAX) ? fallback : int(it->get<uint64_t>());
  int64_t v = it->get<int64_t>();
  return v < INT_MIN || v > INT_MAX ? fallback : int(v);
}

std::string label_name_of(const json& l) {
  auto it = l.find("name");
  return it != l.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t checked_int(const json& v, int64_t min, int64_t max, const std::string& where) {
  bool ok = v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX));
  if (!ok || v.get<int64_t>() < min || v.get<int64_t>() > max)
    throw bad_request("Invalid parameter " + where + ": must be an integer between " + std::to_string(min) + " and " +
                      std::to_string(max));
  return v.get<int64_t>();
}

std::map<std::pair<int, std::string>, int64_t> label_counts(const json& labels) {
  std::map<std::pair<int, std::string>, int64_t> m;
  if (labels.is_array())
    for (auto& l : labels)
      if (l.is_object()) m[{label_type_of(l, 0), label_name_of(l)}]++;
  return m;
}

std::vector<SampleWriter::LabelRow> SampleWriter::label_rows_of(const json& labels) {
  std::map<std::pair<int, std::string>, LabelRow> rows;
  if (labels.is_array())
    for (auto& l : labels) {
      if (!l.is_object()) continue;
      int type = label_type_of(l, 0);
      std::string name = label_name_of(l);
      LabelRow& r = rows[{type, name}];
      r.type = type;
      r.name = name;
      ++r.n;
      auto sc = l.find("score");
      if (sc != l.end() && sc->is_number() && (!r.score || sc->get<double>() > *r.score)) r.score = sc->get<double>();
    }
  std::vector<LabelRow> out;
  out.reserve(rows.size());
  for (auto& [k, r] : rows) out.push_back(std::move(r));
  return out;
}

std::vector<SampleWriter::LabelRow> SampleWriter::label_rows_of(const std::vector<std::pair<int, std::string>>& labels) {
  std::vector<LabelRow> out;
  for (auto& [type, name] : labels) {
    auto it = std::find_if(out.begin(), out.end(), [&](const LabelRow& r) { return r.type == type && r.name == name; });
    if (it == out.end()) it = out.insert(out.end(), LabelRow{type, name, 0, std::nullopt});
    ++it->n;
  }
  std::sort(out.begin(), out.end(), [](const LabelRow& a, const LabelRow& b) {
    return std::tie(a.type, a.name) < std::tie(b.type, b.name);
  });
  return out;
}

namespace {
// A sample id's second half: its sequence number as 16 hex digits.
void append_seq_hex(std::string& id, int64_t seq) {
  for (int d = 15; d >= 0; --d) id += "0123456789abcdef"[uint64_t(seq) >> (4 * d) & 15];
}
}  // namespace

void SampleWriter::insert_many(const std::vector<NewSample*>& batch, int64_t& seq_counter, std::vector<bool>& inserted) {
  constexpr size_t kRows = 32;
  auto sql = [this](int table, size_t rows) -> const std::string& {
    std::string& q = multi_sql_[{table, rows}];
    if (q.empty()) {
      q = table == 0 ? "INSERT INTO samples (dataset_id, seq, id, name, path, dir, type, state, size, sample_time, labels, "
                       "metadata, annotated_by, usage, hard, created_at, updated_at) VALUES "
                     : "INSERT INTO sample_labels (dataset_id, label_type, label_name, seq, n, score) VALUES ";
      for (size_t r = 0; r < rows; ++r) {
        if (r) q += ',';
        q += table == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?, ?)";
      }
      if (table == 0) q += " ON CONFLICT (dataset_id, path) DO NOTHING";
    }
    return q;
  };
  inserted.assign(batch.size(), false);
  if (id_prefix_.empty()) id_prefix_ = sample_id(ds_, 0).substr(0, 16);
  int64_t now = clock::now_ms();
  // Counter changes are summed here first, by label rather than by counter
  // name: a million-row import would otherwise build four names a row.
  int64_t total = 0, by_state[3] = {0, 0, 0};
  std::map<std::pair<int, std::string_view>, std::pair<int64_t, int64_t>> by_label;  // (annotations, samples)
  store::Params p, lp;
  std::vector<std::pair<int64_t, const LabelRow*>> label_rows;
  auto flush_labels = [&](bool all) {
    while (label_rows.size() >= (all ? 1 : kRows)) {
      size_t k = std::min(kRows, label_rows.size());
      lp.clear();
      for (size_t i = 0; i < k; ++i) {
        auto& [seq, r] = label_rows[i];
        lp.push_back(store::Value::borrowed(ds_));
        lp.emplace_back(r->type);
        lp.push_back(store::Value::borrowed(r->name));
        lp.emplace_back(seq);
        lp.emplace_back(r->n);
        lp.emplace_back(r->score ? store::Value(*r->score) : store::Value());
      }
      db_.exec(sql(1, k), lp);
      label_rows.erase(label_rows.begin(), label_rows.begin() + std::ptrdiff_t(k));
    }
  };
  for (size_t from = 0; from < batch.size(); from += kRows) {
    size_t k = std::min(kRows, batch.size() - from);
    int64_t first = seq_counter + 1;
    p.clear();
    for (size_t i = 0; i < k; ++i) {
      NewSample& s = *batch[from + i];
      if (!s.derived) s.derive();
      s.id = id_prefix_;
      append_seq_hex(s.id, first + int64_t(i));
      const char* state = !s.labeled ? kUnannotated : s.auto_annotation ? kAuto : kManual;
      // The texts are bound where they are, not copied: the batch outlives
      // the statement.
      using store::Value;
      p.push_back(Value::borrowed(ds_));
      p.emplace_back(first + int64_t(i));
      p.push_back(Value::borrowed(s.id));
      p.push_back(Value::borrowed(s.name));
      p.push_back(Value::borrowed(s.path));
      p.push_back(Value::borrowed(s.dir));
      p.emplace_back(s.type);
      p.push_back(Value::borrowed(state));
      p.emplace_back(s.size);
      p.emplace_back(s.sample_time);
      p.push_back(Value::borrowed(s.labels_text));
      p.push_back(Value::borrowed(s.metadata_text));
      p.push_back(s.annotated_by.empty() ? Value() : Value::borrowed(s.annotated_by));
      p.push_back(s.usage.empty() ? Value() : Value::borrowed(s.usage));
      p.emplace_back(s.hard);
      p.emplace_back(now);
      p.emplace_back(now);
    }
    bool all = db_.exec(sql(0, k), p) == int64_t(k);
    for (size_t i = 0; i < k; ++i) {
      NewSample& s = *batch[from + i];
      int64_t seq = first + int64_t(i);
      if (!all && !db_.query_one("SELECT seq FROM samples WHERE dataset_id = ? AND seq = ?", {ds_, seq})) continue;
      inserted[from + i] = true;
      seq_counter = seq;  // the numbers after the last row inserted stay free
      ++total;
      ++by_state[!s.labeled ? 0 : s.auto_annotation ? 1 : 2];
      for (auto& r : s.label_rows) {
        label_rows.emplace_back(seq, &r);
        auto& [annotations, samples] = by_label[{r.type, r.name}];
        annotations += r.n;
        ++samples;
      }
      add_metadata_rows(seq, s.metadata_rows);
      if (s.hard) {
        delta("hard", 1);
        for (int r : s.hard_reasons) delta("hr:" + std::to_string(r), 1);
      }
    }
    flush_labels(false);
  }
  flush_labels(true);
  if (total) delta("total", total);
  const char* states[3] = {kUnannotated, kAuto, kManual};
  for (int k = 0; k < 3; ++k)
    if (by_state[k]) delta(std::string("state:") + states[k], by_state[k]);
  for (auto& [label, n] : by_label) {
    std::string name(label.second);
    delta(label_key("lc", label.first, name), n.first);
    delta(label_key("ls", label.first, name), n.second);
  }
}

std::string sample_id(const std::string& ds, int64_t seq) {
  std::string id = crypto::md5_hex(ds).substr(0, 16);
  append_seq_hex(id, seq);
  return id;
}

int64_t sample_seq(const std::string& ds, const std::string& id) {
  if (id.size() != 32 || id.find_first_not_of("0123456789abcdef") != std::string::npos) return -1;
  if (id.compare(0, 16, crypto::md5_hex(ds), 0, 16) != 0) return -1;
  uint64_t seq = std::strtoull(id.c_str() + 16, nullptr, 16);
  return seq > uint64_t(INT64_MAX) ? -1 : int64_t(seq);
}

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

json label_json(const Row& r) {
  json j = json::object();
  j["name"] = r.str("name");
  j["type"] = r.i64("type");
  j["property"] = json::parse(r.str("property"), nullptr, false);
  json attrs = json::parse(r.str("attributes"), nullptr, false);
  if (attrs.is_array() && !attrs.empty()) j["attributes"] = attrs;
  return j;
}

std::vector<Row> dataset_labels(Database& db, const std::string& ds) {
  return db.query("SELECT * FROM dataset_labels WHERE dataset_id = ? ORDER BY pos", {ds});
}

void insert_labels(Database& db, const std::string& ds, const std::vector<LabelDef>& labels) {
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

double num(const json& v, bool& ok) {
  if (v.is_number()) return v.get<double>();
  ok = false;
  return 0;
}

void check_annotation(const json& l, const SampleFacts& f, const std::string& where,
                      const std::set<std::pair<int, std::string>>& defined, const std::set<std::string>& ids_in_sample) {
  if (!l.is_object()) throw bad_request(where + " must be an object");
  if (!l.contains("name") || !l["name"].is_string() || l["name"].get<std::string>().empty())
    throw bad_request(where + ".name is required");
  std::string name = l["name"];
  int type = *label_types_for(f.dataset_type).begin();
  if (l.contains("type")) type = int(checked_int(l["type"], 0, 1000, where + ".type"));
  if (!label_types_for(f.dataset_type).count(type))
    throw bad_request(where + ".type " + std::to_string(type) + " does not fit dataset type " + std::to_string(f.dataset_type));
  if (!defined.count({type, name}))
    throw ApiError(400, "ModelArts.4410", where + ": label " + name + " (type " + std::to_string(type) + ") is not defined in the dataset");
  if (l.contains("score") && (!l["score"].is_number() || l["score"].get<double>() < 0 || l["score"].get<double>() > 1))
    throw bad_request(where + ".score must be a number in [0, 1]");
  json prop = l.value("property", json::object());
  if (!prop.is_object()) throw bad_request(where + ".property must be an object");
  std::string pw = where + ".property";

  if (type == 1) {  // object detection: shape + feature inside the image
    if (!prop.contains("@modelarts:shape") || !prop["@modelarts:shape"].is_string())
      throw bad_request(pw + "[@modelarts:shape] is required for object detection labels");
    std::string shape = prop["@modelarts:shape"];
    static const std::set<std::string> shapes = {"bndbox", "polygon", "circle", "line", "dashed", "point", "polyline"};
    if (!shapes.count(shape)) throw bad_request(pw + "[@modelarts:shape] must be one of bndbox, polygon, circle, line, dashed, point, polyline");
    if (!prop.contains("@modelarts:feature") || !prop["@modelarts:feature"].is_array())
      throw bad_request(pw + "[@modelarts:feature] must be a list of points");
    const json& feat = prop["@modelarts:feature"];
    const json size = f.metadata.is_object() ? f.metadata.value("@modelarts:size", json()) : json();
    if (!size.is_array() || size.size() < 2 || !size[0].is_number() || !size[1].is_number())
      throw bad_request(where + ": the sample's metadata @modelarts:size [width, height] is required for object detection labels");
    double w = size[0].get<double>(), h = size[1].get<double>();
    std::vector<std::pair<double, double>> pts;
    size_t npoints = feat.size();
    if (shape == "circle") npoints = 1;
    for (size_t i = 0; i < npoints && i < feat.size(); ++i) {
      const json& p = feat[i];
      bool ok = p.is_array() && p.size() == 2;
      double x = ok ? num(p[0], ok) : 0, y = ok ? num(p[1], ok) : 0;
      if (!ok) throw bad_request(pw + "[@modelarts:feature][" + std::to_string(i) + "] must be [x, y]");
      if (x < 0 || y < 0 || x > w || y > h)
        throw bad_request(pw + "[@modelarts:feature][" + std::to_string(i) + "] lies outside the " +
                          std::to_string(int64_t(w)) + "x" + std::to_string(int64_t(h)) + " image");
      pts.emplace_back(x, y);
    }
    auto need = [&](size_t n, bool exact) {
      if (exact ? feat.size() != n : feat.size() < n)
        throw bad_request(pw + "[@modelarts:feature] of a " + shape + " needs " + (exact ? "" : "at least ") +
                          std::to_string(n) + " points");
    };
    if (shape == "bndbox") {
      need(2, true);
      if (!(pts[0].first < pts[1].first && pts[0].second < pts[1].second))
        throw bad_request(pw + "[@modelarts:feature] of a bndbox must be [[xmin,ymin],[xmax,ymax]] with min < max");
    } else if (shape == "polygon") {
      need(3, false);
    } else if (shape == "polyline" || shape == "line" || shape == "dashed") {
      need(2, shape == "polyline" ? false : true);
    } else if (shape == "point") {
      need(1, true);
    } else if (shape == "circle") {
      bool ok = feat.size() == 2 && feat[1].is_array() && feat[1].size() == 1;
      double r = ok ? num(feat[1][0], ok) : 0;
      if (!ok || r <= 0) throw bad_request(pw + "[@modelarts:feature] of a circle must be [[cx,cy],[r]] with r > 0");
      if (pts[0].first - r < 0 || pts[0].second - r < 0 || pts[0].first + r > w || pts[0].second + r > h)
        throw bad_request(pw + "[@modelarts:feature]: the circle lies outside the image");
    }
  } else if (type == 101 || type == 103) {  // entity spans
    auto si = prop.find("@modelarts:start_index"), ei = prop.find("@modelarts:end_index");
    if (si == prop.end() || ei == prop.end() || !si->is_number_integer() || !ei->is_number_integer())
      throw bad_request(pw + ": @modelarts:start_index and @modelarts:end_index (integers) are required for entity labels");
    int64_t s = si->get<int64_t>(), e = ei->get<int64_t>();
    if (s < 0 || e <= s || e > f.text_length)
      throw bad_request(pw + ": the span [" + std::to_string(s) + ", " + std::to_string(e) + ") lies outside the text of " +
                        std::to_string(f.text_length) + " characters");
  } else if (type == 102) {  // triplet relation between two entity annotations of the sample
    for (const char* k : {"@modelarts:from", "@modelarts:to"}) {
      if (!prop.contains(k) || !prop[k].is_string()) throw bad_request(pw + "[" + k + "] (an entity annotation id) is required");
      if (!ids_in_sample.count(prop[k].get<std::string>()))
        throw bad_request(pw + "[" + k + "] names no entity annotation of this sample");
    }
  } else if (type == 202 || type == 201) {  // speech segments
    auto parse_t = [&](const char* k) -> int64_t {
      if (!prop.contains(k)) return -1;
      if (!prop[k].is_string()) throw bad_request(pw + "[" + k + "] must be hh:mm:ss.SSS");
      std::string t = prop[k];
      int hh, mm, ss, ms;
      char tail;
      if (std::sscanf(t.c_str(), "%d:%d:%d.%d%c", &hh, &mm, &ss, &ms, &tail) != 4 || mm > 59 || ss > 59 || hh < 0 || mm < 0 ||
          ss < 0 || ms < 0 || ms > 999)
        throw bad_request(pw + "[" + k + "] must be hh:mm:ss.SSS");
      return ((int64_t(hh) * 60 + mm) * 60 + ss) * 1000 + ms;
    };
    int64_t s = parse_t("@modelarts:start_time"), e = parse_t("@modelarts:end_time");
    if (type == 202 && (s < 0 || e < 0)) throw bad_request(pw + ": @modelarts:start_time and @modelarts:end_time are required");
    if (s >= 0 && e >= 0 && e <= s) throw bad_request(pw + ": the segment must end after it starts");
    if (prop.contains("@modelarts:content") && !prop["@modelarts:content"].is_string())
      throw bad_request(pw + "[@modelarts:content] must be a string");
  }
  for (const char* k : {"@modelarts:hard_coefficient"}) {
    if (prop.contains(k)) {
      std::string v = prop[k].is_string() ? prop[k].get<std::string>() : prop[k].dump();
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (*end || !(d >= 0 && d <= 1)) throw bad_request(pw + "[" + k + "] must be in [0, 1]");
    }
  }
}

json checked_labels(const json& labels, const SampleFacts& f, const std::string& where,
                    const std::set<std::pair<int, std::string>>& defined, const std::string& annotated_by) {
  if (!labels.is_array()) throw bad_request(where + " must be an array");
  if (labels.size() > kMaxLabelsPerSample)
    throw bad_request("Invalid parameter " + where + ": at most " + std::to_string(kMaxLabelsPerSample) +
                      " labels per sample");
  json out = json::array();
  std::set<std::string> entity_ids;
  for (auto& l : labels) {
    json c = l;
    if (c.is_object() && (!c.contains("id") || !c["id"].is_string())) c["id"] = ids::base62_19();
    if (c.is_object() && label_type_of(c, -1) == 103) entity_ids.insert(c["id"].get<std::string>());
    out.push_back(std::move(c));
  }
  int64_t now = clock::now_ms();
  for (size_t i = 0; i < out.size(); ++i) {
    check_annotation(out[i], f, where + "[" + std::to_string(i) + "]", defined, entity_ids);
    if (!out[i].contains("type")) out[i]["type"] = *label_types_for(f.dataset_type).begin();
    if (!out[i].contains("annotated_by")) out[i]["annotated_by"] = annotated_by;
    if (!out[i].contains("create_time")) out[i]["create_time"] = now;
  }
  return out;
}

std::set<std::pair<int, std::string>> defined_labels(Database& db, const std::string& ds) {
  std::set<std::pair<int, std::string>> out;
  for (auto& r : db.query("SELECT name, type FROM dataset_labels WHERE dataset_id = ?", {ds}))
    out.insert({int(r.i64("type")), r.str("name")});
  return out;
}

std::string inner_work_path(const Row& d) { return d.str("work_path") + d.str("name") + "-" + d.str("id") + "/"; }

json dataset_json(Database& db, const Row& d, bool with_labels) {
  auto c = counters(db, d.str("id"));
  auto get = [&](const std::string& k) { return c.count(k) ? c[k] : 0; };
  std::string inner = inner_work_path(d);
  json j = json::object();
  j["dataset_id"] = d.str("id");
  j["dataset_name"] = d.str("name");
  j["dataset_type"] = d.i64("type");
  j["dataset_format"] = d.i64("type") == 400 ? 1 : 0;
  json extra = json::parse(d.str("extra"), nullptr, false);
  j["data_format"] = extra.value("data_format", std::string("Default"));
  j["description"] = d.str("description");
  j["status"] = d.i64("status");
  j["create_time"] = d.i64("created_at");
  j["update_time"] = d.i64("updated_at");
  j["data_update_time"] = d.i64("data_updated_at");
  j["data_sources"] = json::parse(d.str("data_sources"), nullptr, false);
  j["work_path"] = d.str("work_path");
  j["work_path_type"] = 0;
  j["inner_work_path"] = inner;
  j["inner_annotation_path"] = inner + "annotation/";
  j["inner_data_path"] = inner + "data/";
  j["inner_log_path"] = inner + "logs/";
  j["inner_temp_path"] = inner + "temp/";
  j["inner_task_path"] = inner + "task/";
  j["current_version_id"] = d.null("current_version_id") ? "" : d.str("current_version_id");
  auto cv = d.null("current_version_id") ? std::nullopt
                                         : db.query_one("SELECT name FROM dataset_versions WHERE id = ?", {d.str("current_version_id")});
  j["current_version_name"] = cv ? cv->str("name") : "";
  j["next_version_num"] = d.i64("next_version_num");
  j["dataset_version_count"] = db.query_one("SELECT COUNT(*) AS n FROM dataset_versions WHERE dataset_id = ?", {d.str("id")})->i64("n");
  j["total_sample_count"] = get("total");
  j["annotated_sample_count"] = get(std::string("state:") + kManual) + get(std::string("state:") + kAuto);
  j["unconfirmed_sample_count"] = get(std::string("state:") + kAuto);
  j["deleted_sample_count"] = get("deleted");
  j["loading_sample_count"] = 0;
  j["total_sub_sample_count"] = 0;
  j["annotated_sub_sample_count"] = 0;
  j["enterprise_project_id"] = d.str("enterprise_project_id");
  j["workspace_id"] = d.str("workspace_id");
  j["label_task_count"] = 0;
  j["workforce_task_count"] = 0;
  j["exist_workforce_task"] = false;
  j["feature_supports"] = json::array({"0"});
  j["managed"] = extra.value("managed", false);
  j["dataset_version"] = "v2";
  j["ai_project"] = "default-ai-project";
  for (const char* k : {"label_format", "schema", "import_data", "content_labeling"})
    if (extra.contains(k)) j[k] = extra[k];
  if (with_labels) {
    json labels = json::array();
    for (auto& r : dataset_labels(db, d.str("id"))) labels.push_back(label_json(r));
    j["labels"] = labels;
  }
  return j;
}

json with_running_tasks(const Context& ctx, Database& db, tasks::Queue& runner, const Row& d, json j) {
  auto v = ctx.req.query_param("check_running_task");
  if (!v || (*v != "true" && *v != "True")) return j;
  std::vector<std::string> resources{d.str("id")};
  for (auto& r : db.query("SELECT id FROM dataset_versions WHERE dataset_id = ?", {d.str("id")})) resources.push_back(r.str("id"));
  auto ids = runner.active_ids(resources);
  j["exist_running_task"] = !ids.empty();
  j["running_tasks_id"] = ids;
  return j;
}

json sample_json(const Context& ctx, const Row& r, bool labels) {
  json j = json::object();
  j["sample_id"] = r.str("id");
  j["sample_name"] = r.str("name");
  j["sample_type"] = r.i64("type");
  j["sample_status"] = r.str("state");
  j["source"] = ctx.base_url() + "/v2/" + ctx.param("project_id") +
                "/datasets/" + ctx.param("dataset_id") + "/data-annotations/samples/" + r.str("id") + "/content";
  j["sample_dir"] = r.str("dir");
  j["sample_size"] = r.i64("size");
  j["sample_time"] = r.i64("sample_time");
  if (labels) j["labels"] = json::parse(r.str("labels"), nullptr, false);
  j["metadata"] = json::parse(r.str("metadata"), nullptr, false);
  if (!r.null("annotated_by")) j["annotated_by"] = r.str("annotated_by");
  if (!r.null("usage")) j["sample_usage"] = r.str("usage");
  return j;
}

std::pair<int64_t, int64_t> page(const Context& ctx, int64_t def_limit, int64_t max_limit) {
  auto parse = [&](const char* k, int64_t def, int64_t lo, int64_t hi) {
    auto v = ctx.req.query_param(k);
    if (!v) return def;
    if (v->empty() || v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos)
      throw bad_request(std::string("Invalid parameter ") + k + ": must be an integer");
    int64_t n = std::stoll(*v);
    if (n < lo || n > hi)
      throw bad_request(std::string("Invalid parameter ") + k + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return n;
  };
  int64_t limit = parse("limit", def_limit, 1, max_limit);
  int64_t offset = parse("offset", 0, 0, 100000000);
  return {offset * limit, limit};
}

const std::string* qp(const Context& ctx, const char* k) { return ctx.req.query_param(k); }

std::optional<std::pair<double, double>> query_ratio_range(const Context& ctx) {
  auto v = qp(ctx, "train_evaluate_ratio");
  if (!v) return std::nullopt;
  auto bad = [] { return bad_request("Invalid parameter train_evaluate_ratio: must be \"min,max\" with 0 <= min <= max <= 1"); };
  size_t comma = v->find(',');
  if (comma == std::string::npos) throw bad();
  auto num = [&](const std::string& t) {
    auto d = parse_ratio(t);
    if (!d) throw bad();
    return *d;
  };
  double lo = num(v->substr(0, comma)), hi = num(v->substr(comma + 1));
  if (lo > hi) throw bad();
  return std::make_pair(lo, hi);
}

std::optional<double> version_ratio(const Row& v) {
  json params = json::parse(v.str("params"), nullptr, false);
  if (!params.is_object() || !params.contains("train_evaluate_sample_ratio")) return 1.0;
  const json& r = params["train_evaluate_sample_ratio"];
  return r.is_string() ? parse_ratio(r.get<std::string>()) : std::nullopt;
}

bool query_bool(const Context& ctx, const char* k, bool def) {
  auto v = qp(ctx, k);
  if (!v) return def;
  if (*v == "true" || *v == "True") return true;
  if (*v == "false" || *v == "False") return false;
  throw bad_request(std::string("Invalid parameter ") + k + ": must be true or false");
}

std::optional<int> query_int(const Context& ctx, const char* k) {
  auto v = qp(ctx, k);
  if (!v) return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end || n < INT32_MIN || n > INT32_MAX) throw bad_request(std::string("Invalid parameter ") + k + ": must be an integer");
  return int(n);
}

std::optional<std::string> query_version_format(const Context& ctx) {
  auto f = query_int(ctx, "version_format");
  if (!f) return std::nullopt;
  static const char* kNames[] = {"Default", "CarbonData", "CSV"};
  if (*f < 0 || *f > 2) throw bad_request("Invalid parameter version_format: must be 0 (Default), 1 (CarbonData) or 2 (CSV)");
  return std::string(kNames[*f]);
}

json preview_files(const Context& ctx, Database& db, const Row& d) {
  json out = json::array();
  std::string ds = d.str("id");
  for (auto& r : db.query("SELECT id, name, type, size, created_at FROM samples WHERE dataset_id = ? ORDER BY seq LIMIT 4", {ds}))
    out.push_back({{"file_id", r.str("id")},
                   {"file_Name", r.str("name")},
                   {"file_type", r.i64("type")},
                   {"url", ctx.base_url() + "/v2/" + ctx.param("project_id") + "/datasets/" + ds +
                               "/data-annotations/samples/" + r.str("id") + "/content"},
                   {"create_time", r.i64("created_at")},
                   {"dataset_id", ds},
                   {"size", r.i64("size")},
                   {"tags", json::object()}});
  return out;
}

json list_version_samples(const Context& ctx, Database& db, obs::ObjectStore& objects, const Row& d,
                          const std::string& vid) {
  auto v = db.query_one("SELECT name, status FROM dataset_versions WHERE id = ? AND dataset_id = ?", {vid, d.str("id")});
  if (!v) throw ApiError(400, "ModelArts.4353", "Dataset version " + vid + " does not exist.");
  if (v->i64("status") != 1)
    throw ApiError(400, "ModelArts.4824", "Dataset version " + vid + " is not in normal status (not published yet).");
  for (const char* k : {"search_conditions", "marker", "high_score", "low_score"})
    if (qp(ctx, k)) throw bad_request(std::string("Invalid parameter ") + k + ": not supported together with version_id");
  int type = int(d.i64("type"));
  std::string state_filter;
  if (auto st = qp(ctx, "sample_state")) {
    std::string u = *st;
    for (char& c : u) c = char(std::toupper(static_cast<unsigned char>(c)));
    if (u == "__ALL__" || u == "MANUAL_ANNOTATION") state_filter = "labeled";
    else if (u == "__NONE__" || u == "UN_ANNOTATION") state_filter = "unlabeled";
    else if (u == "AUTO_ANNOTATION" || u == "__AUTO_ANNOTATION__" || (u.size() > 4 && u.rfind("__", 0) == 0)) state_filter = "none";
    else throw bad_request("Invalid parameter sample_state: " + *st);
  }
  if (auto t = query_int(ctx, "sample_type"); t && *t != sample_type_for(type)) state_filter = "none";
  const std::string* label_name = qp(ctx, "label_name");
  auto label_type = query_int(ctx, "label_type");
  std::string order = qp(ctx, "order") ? *qp(ctx, "order") : "desc";
  if (order != "asc" && order != "desc") throw bad_request("Invalid parameter order: must be asc or desc");
  auto [skip, limit] = page(ctx, 10, 100);

  std::string name = v->str("name");
  auto reader = objects.get(obs::parse_path(inner_work_path(d) + "annotation/" + name + "/" + name + ".manifest"));
  if (!reader) throw ApiError(400, "ModelArts.4824", "The manifest of dataset version " + vid + " is missing.");
  auto read_file = [&objects](const std::string& path) { return objects.get_all(obs::parse_path(path)); };
  std::string base = ctx.base_url() + "/v2/" + ctx.param("project_id") + "/datasets/" + d.str("id") +
                     "/data-annotations/samples/";
  // Matching lines in manifest order; for `desc` the page is counted from the end,
  // so keep only the last skip+limit matches while scanning.
  std::deque<json> window;
  int64_t total = 0;
  LineReader lines(std::move(reader));
  std::string line;
  bool too_long = false;
  while (lines.next(line, too_long)) {
    if (too_long || line.find_first_not_of(" \t") == std::string::npos) continue;
    ManifestSample m;
    try {
      m = parse_manifest_line(line, type, read_file);
    } catch (const ManifestError&) {
      continue;  // we wrote this manifest; a line we cannot read is not a sample
    }
    bool labeled = !m.labels.empty();
    if (state_filter == "none" || (state_filter == "labeled" && !labeled) || (state_filter == "unlabeled" && labeled)) continue;
    if (label_name || label_type) {
      bool hit = false;
      for (auto& l : m.labels)
        if ((!label_name || label_name_of(l) == *label_name) && (!label_type || label_type_of(l, -1) == *label_type)) hit = true;
      if (!hit) continue;
    }
    ++total;
    if (order == "asc" && (total <= skip || total > skip + limit)) continue;
    json j = json::object();
    std::string sname = m.path.empty() ? m.id : m.path.substr(m.path.rfind('/') + 1);
    j["sample_id"] = m.id;
    j["sample_name"] = sname;
    j["sample_type"] = type == 900 && m.sample_type >= 0 ? m.sample_type : sample_type_for(type);
    j["sample_status"] = labeled ? kManual : kUnannotated;
    j["source"] = base + m.id + "/content";
    j["sample_dir"] = m.path.empty() ? "" : m.path.substr(0, m.path.rfind('/') + 1);
    if (!m.text.empty()) j["sample_data"] = json::array({m.text});
    j["labels"] = m.labels;
    j["metadata"] = m.metadata;
    if (!m.usage.empty()) j["sample_usage"] = m.usage;
    window.push_back(std::move(j));
    if (order == "desc" && int64_t(window.size()) > skip + limit) window.pop_front();
  }
  json list = json::array();
  if (order == "asc") {
    for (auto& j : window) list.push_back(std::move(j));
  } else {
    // window holds the last matches in manifest order; newest first, after `skip`.
    int64_t n = int64_t(window.size());
    for (int64_t i = n - 1 - std::min<int64_t>(skip, n); i >= 0 && int64_t(list.size()) < limit; --i)
      list.push_back(std::move(window[size_t(i)]));
    if (skip >= total) list = json::array();
  }
  return {{"sample_count", total}, {"samples", list}};
}

std::string score_window_sql(double low, double high, store::Params& p) {
  p.push_back(low);
  p.push_back(high);
  return "EXISTS (SELECT 1 FROM sample_labels q WHERE q.dataset_id = s.dataset_id AND q.seq = s.seq AND q.score >= ? "
         "AND q.score <= ?)";
}

// The SQL of one SearchCondition (§1.4.7) over samples `s`, its parts ANDed;
// binds go to `p`. Throws a 400 naming the offending key.
std::string condition_sql(const json& c, store::Params& p) {
  std::string sql = "1 = 1";
  if (!c.is_object()) throw bad_request("Invalid parameter search_conditions: each condition must be an object");
  if (c.contains("sample_name")) {
    if (!c["sample_name"].is_string()) throw bad_request("Invalid parameter search_conditions.sample_name");
    sql += " AND s.name = ?";
    p.push_back(c["sample_name"].get<std::string>());
  }
  if (c.contains("sample_time")) {  // month | day | yyyyMMdd-yyyyMMdd (span <= 30 days)
    if (!c["sample_time"].is_string()) throw bad_request("Invalid parameter search_conditions.sample_time");
    std::string v = c["sample_time"];
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
    sql += " AND s.sample_time >= ? AND s.sample_time < ?";
    p.push_back(from_ms);
    p.push_back(to_ms);
  }
  if (c.contains("metadata")) {  // SearchProp: {op, props: {key: [values]}}
    const json& m = c["metadata"];
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
    if (!part.empty()) sql += " AND (" + part + ")";
  }
  if (c.contains("sample_dir")) {
    if (!c["sample_dir"].is_string()) throw bad_request("Invalid parameter search_conditions.sample_dir");
    sql += " AND s.dir = ?";
    p.push_back(c["sample_dir"].get<std::string>());
  }
  if (c.contains("score")) {  // "low-high": a label of the sample scored within the window
    std::string v = c["score"].is_string() ? c["score"].get<std::string>() : "";
    size_t dash = v.find('-');
    char* e1 = nullptr;
    char* e2 = nullptr;
    std::string a = dash == std::string::npos ? "" : v.substr(0, dash), b = dash == std::string::npos ? "" : v.substr(dash + 1);
    double lo = std::strtod(a.c_str(), &e1), hi = std::strtod(b.c_str(), &e2);
    if (a.empty() || b.empty() || *e1 || *e2 || !(lo >= 0 && hi <= 1 && lo <= hi))
      throw bad_request("Invalid parameter search_conditions.score: must be low-high within 0..1, e.g. 0.5-1");
    sql += " AND " + score_window_sql(lo, hi, p);
  }
  if (c.contains("hard")) {
    std::string h = c["hard"].is_string() ? c["hard"].get<std::string>() : c["hard"].dump();
    if (h != "0" && h != "1") throw bad_request("Invalid parameter search_conditions.hard: must be 0 or 1");
    sql += " AND s.hard = ?";
    p.push_back(h == "1" ? 1 : 0);
  }
  if (c.contains("labeler")) {
    if (!c["labeler"].is_string()) throw bad_request("Invalid parameter search_conditions.labeler");
    sql += " AND s.annotated_by = ?";
    p.push_back(c["labeler"].get<std::string>());
  }
  if (c.contains("label_list")) {
    const json& ll = c["label_list"];
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
    if (!part.empty()) sql += " AND (" + part + ")";
  }
  return sql;
}

std::string insert_dataset(Database& db, obs::ObjectStore& objects, const NewDataset& n) {
  std::string id = ids::base62_19();
  int64_t now = clock::now_ms();
  db.transaction([&] {
    if (db.query_one("SELECT 1 FROM datasets WHERE project_id = ? AND name = ?", {n.project_id, n.name}))
      throw ApiError(400, "ModelArts.4351", "Dataset name " + n.name + " already exists.");
    db.exec("INSERT INTO datasets (id, project_id, name, type, description, status, work_path, data_sources, extra, "
            "workspace_id, created_at, updated_at, data_updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            {id, n.project_id, n.name, n.type, n.description, obs_str(n.work_path), n.data_sources.dump(), n.extra.dump(),
             n.workspace_id, now, now, now});
    insert_labels(db, id, n.labels);
    // Buckets of the embedded store come into being on first use.
    objects.create_bucket(n.work_path.bucket);
    for (auto& s : n.data_sources)
      if (s.is_object() && s.contains("data_path") && s["data_path"].is_string())
        objects.create_bucket(obs::parse_path(s["data_path"].get<std::string>()).bucket);
  });
  return id;
}

ManifestSample manifest_sample(const Row& r, obs::ObjectStore& objects, int dataset_type) {
  ManifestSample m;
  m.id = r.str("id");
  m.path = r.str("path");
  m.sample_type = int(r.i64("type"));
  m.labels = json::parse(r.str("labels"), nullptr, false);
  m.metadata = json::parse(r.str("metadata"), nullptr, false);
  if (!m.labels.is_array()) m.labels = json::array();
  if (!m.metadata.is_object()) m.metadata = json::object();
  if (is_text_type(dataset_type)) {
    try {
      m.text = objects.get_all(obs::parse_path(m.path)).value_or("");
    } catch (const ApiError&) {
    }
  }
  if (!r.null("usage")) m.usage = r.str("usage");
  return m;
}

void clear_hard(ManifestSample& m) {
  for (const char* k : {"@modelarts:hard", "@modelarts:hard_coefficient", "@modelarts:hard_reasons"}) m.metadata.erase(k);
  for (auto& l : m.labels)
    if (l.is_object() && l.contains("property") && l["property"].is_object())
      for (const char* k : {"@modelarts:hard", "@modelarts:hard_coefficient"}) l["property"].erase(k);
}

std::string split_usage(const std::string& sample_id, double train_ratio) {
  uint64_t h = std::strtoull(crypto::md5_hex(sample_id).substr(0, 8).c_str(), nullptr, 16);
  return double(h % 10000) < train_ratio * 10000 ? "TRAIN" : "EVAL";
}

json validated_labels(int type, const json& labels, const SampleFacts& facts, const std::string& annotated_by) {
  const auto& allowed = label_types_for(type);
  std::set<std::pair<int, std::string>> named;
  for (size_t i = 0; i < labels.size(); ++i) {
    int t = label_type_of(labels[i], -1);
    if (!allowed.count(t))
      throw ApiError(400, "ModelArts.4362", "annotation[" + std::to_string(i) + "]: label type " + std::to_string(t) +
                                                " does not fit dataset type " + std::to_string(type));
    named.insert({t, label_name_of(labels[i])});
  }
  return checked_labels(labels, facts, "annotation", named, annotated_by);
}

void define_labels(Database& db, const std::string& ds, int type, const json& labels,
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

json adopt_labels(Database& db, const std::string& ds, int type, const json& labels, const SampleFacts& facts,
                  std::set<std::pair<int, std::string>>& defined, const std::string& annotated_by) {
  json checked = validated_labels(type, labels, facts, annotated_by);
  define_labels(db, ds, type, checked, defined);
  return checked;
}

obs::ObjectInfo put_pages(obs::ObjectStore& objects, const obs::ObsPath& p, const std::function<bool(std::string&)>& next_page,
                          const std::function<bool()>& stopping) {
  std::string pending;
  size_t pos = 0;
  bool end = false;
  return objects.put(p, [&](char* buf, size_t cap) -> size_t {
    while (pos == pending.size() && !end) {
      if (stopping()) throw ApiError(503, "ModelArts.0010", "The server is stopping.");
      pending.clear();
      pos = 0;
      end = !next_page(pending);
    }
    size_t n = std::min(cap, pending.size() - pos);
    std::copy_n(pending.data() + pos, n, buf);
    pos += n;
    return n;
  });
}

Row dataset_in_project(Database& db, const Context& ctx) {
  auto r = db.query_one("SELECT * FROM datasets WHERE id = ? AND project_id = ? AND status <> 2",
                        {ctx.param("dataset_id"), ctx.caller.project_id});
  if (!r) throw dataset_missing(ctx.param("dataset_id"));
  return *r;
}

}  // namespace atelier::data
