// Reading manifest lines (one JSON object per sample): the inverse of
// manifest_line, with every malformed value reported by its field.
#include <charconv>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "data/manifest.h"
#include "data/manifest_text.h"

namespace atelier::data {

using namespace manifest_text;

namespace {

enum class Kind { kImageCls, kDetection, kSegmentation, kTextCls, kEntity, kTriplet, kAudioCls, kAudioContent, kAudioSeg };

std::optional<Kind> kind_named(std::string_view t) {
  if (t.rfind("modelarts/", 0) == 0) t.remove_prefix(10);
  static const std::map<std::string_view, Kind> kKinds = {
      {"image_classification", Kind::kImageCls}, {"object_detection", Kind::kDetection},
      {"image_segmentation", Kind::kSegmentation}, {"text_classification", Kind::kTextCls},
      {"text_entity", Kind::kEntity},            {"text_triplet", Kind::kTriplet},
      {"audio_classification", Kind::kAudioCls}, {"sound_classification", Kind::kAudioCls},
      {"audio_content", Kind::kAudioContent},    {"audio_segmentation", Kind::kAudioSeg}};
  auto it = kKinds.find(t);
  if (it == kKinds.end()) return std::nullopt;
  return it->second;
}

// The value of a multi-word key in either spelling (annotation-loc or
// annotation_loc); null counts as absent.
const json* get(const json& o, const std::string& key) {
  auto it = o.find(key);
  if (it != o.end() && !it->is_null()) return &*it;
  std::string u = key;
  for (char& c : u)
    if (c == '-') c = '_';
  it = o.find(u);
  return it != o.end() && !it->is_null() ? &*it : nullptr;
}

std::optional<std::string> opt_string(const json& o, const std::string& key, const std::string& field) {
  const json* v = get(o, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail(field, "must be a string");
  return v->get<std::string>();
}

std::string object_path(const json& v, const std::string& field) {
  if (!v.is_string()) fail(field, "must be a string");
  std::string why, path = object_uri(v.get_ref<const std::string&>(), why);
  if (path.empty()) fail(field, why);
  return path;
}

bool hard_flag(const json& v, const std::string& field) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number() && (v.get<double>() == 0 || v.get<double>() == 1)) return v.get<double>() == 1;
  if (v.is_string()) {
    std::string s = lower(trim(v.get<std::string>()));
    if (s == "true" || s == "1") return true;
    if (s == "false" || s == "0") return false;
  }
  fail(field, "must be true or false");
}

// A 0..1 coefficient given as a number or a numeric string.
double coefficient(const json& v, const std::string& field) {
  std::optional<json> n;
  if (v.is_number()) n = v;
  if (v.is_string()) n = parse_number(v.get<std::string>());
  if (!n) fail(field, "must be a number");
  double d = n->get<double>();
  if (d < 0 || d > 1) fail(field, "must be in [0, 1]");
  return d;
}

// "1-3-20" (or [1, 3, 20]) -> [1, 3, 20].
json hard_reasons(const json& v, const std::string& field) {
  json out = json::array();
  if (v.is_array()) {
    for (auto& id : v) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0) fail(field, "must hold non-negative integer reason IDs");
      out.push_back(id.get<int64_t>());
    }
    return out;
  }
  if (!v.is_string()) fail(field, "must be reason IDs joined by '-'");
  std::string_view s = v.get_ref<const std::string&>();
  if (s.empty()) return out;
  for (size_t b = 0;;) {
    size_t e = s.find('-', b);
    std::string_view part = s.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
    int64_t id;
    auto r = std::from_chars(part.data(), part.data() + part.size(), id);
    if (part.empty() || r.ec != std::errc() || r.ptr != part.data() + part.size() || id < 0)
      fail(field, show(s) + " is not reason IDs joined by '-'");
    out.push_back(id);
    if (e == std::string_view::npos) break;
    b = e + 1;
  }
  return out;
}

// "hh:mm:ss.SSS" -> ms.
int64_t speech_ms(const json& prop, const char* key, const std::string& where) {
  std::string field = where + "[" + key + "]";
  if (!prop.contains(key)) fail(field, "is required");
  if (!prop[key].is_string()) fail(field, "must be a string hh:mm:ss.SSS");
  const std::string& t = prop[key].get_ref<const std::string&>();
  int hh, mm, ss, ms, n = 0;
  if (std::sscanf(t.c_str(), "%d:%2d:%2d.%3d%n", &hh, &mm, &ss, &ms, &n) != 4 || size_t(n) != t.size() ||
      t.size() - t.rfind('.') != 4 || hh < 0 || mm < 0 || mm > 59 || ss < 0 || ss > 59 || ms < 0)
    fail(field, show(t) + " is not hh:mm:ss.SSS");
  return ((int64_t(hh) * 60 + mm) * 60 + ss) * 1000 + ms;
}

// Fields shared by every kind of annotation entry: who and when, and the
// entry-level hard fields folded into the label's property.
void common_fields(const json& a, const std::string& where, json& l) {
  if (auto by = opt_string(a, "annotated-by", where + ".annotated-by")) l["annotated_by"] = *by;
  if (auto t = opt_string(a, "creation-time", where + ".creation-time"))
    l["create_time"] = creation_ms(*t, where + ".creation-time");
  if (const json* c = get(a, "confidence")) {
    if (!c->is_number()) fail(where + ".confidence", "must be a number");
    if (c->get<double>() < 0 || c->get<double>() > 1) fail(where + ".confidence", "must be in [0, 1]");
    l["score"] = *c;
  }
  json& prop = l["property"];
  if (!prop.is_object()) prop = json::object();
  if (const json* h = get(a, "hard"); h && !prop.contains("@modelarts:hard"))
    prop["@modelarts:hard"] = hard_flag(*h, where + ".hard") ? "1" : "0";
  if (const json* c = get(a, "hard-coefficient"); c && !prop.contains("@modelarts:hard_coefficient")) {
    coefficient(*c, where + ".hard-coefficient");
    prop["@modelarts:hard_coefficient"] = c->is_string() ? c->get<std::string>() : c->dump();
  }
  if (prop.empty()) l.erase("property");
}

using ReadFile = std::function<std::optional<std::string>(const std::string& obs_path)>;

// The line as a JSON object: at most kMaxManifestLine bytes, nested at most
// kMaxJsonDepth deep; the parser's own words when it is not JSON.
json line_object(std::string_view line) {
  if (line.size() > kMaxManifestLine)
    fail("line", std::to_string(line.size()) + " bytes exceeds the limit of " + std::to_string(kMaxManifestLine));
  bool too_deep = false;
  json j = parse_json_limited(line, &too_deep);
  if (too_deep) fail("line", "nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  if (j.is_discarded()) {
    try {
      json probe = json::parse(line);  // for the parser's own words on what is wrong
      (void)probe;
    } catch (const json::exception& e) {
      fail("line", "not valid JSON (" + printable(e.what()) + ")");
    }
    fail("line", "not valid JSON");
  }
  if (!j.is_object()) fail("line", "must be a JSON object");
  return j;
}

// source (an object, or content:// text where the dataset type allows it),
// id, usage and sample-type.
void read_sample_fields(const json& j, int dataset_type, ManifestSample& s) {
  const json* src = get(j, "source");
  if (!src) fail("source", "is required");
  if (!src->is_string()) fail("source", "must be a string");
  const std::string& source = src->get_ref<const std::string&>();
  bool text_ok = (dataset_type >= 100 && dataset_type < 200) || dataset_type == 900;
  if (lower(source.substr(0, 10)) == "content://") {
    if (!text_ok) fail("source", "content:// text is only for text datasets, not dataset type " + std::to_string(dataset_type));
    s.text = source.substr(10);
  } else {
    s.path = object_path(*src, "source");
  }
  if (auto id = opt_string(j, "id", "id")) s.id = *id;
  if (auto u = opt_string(j, "usage", "usage")) {
    auto up = usage_named(*u);
    if (!up) fail("usage", show(*u) + " is not one of TRAIN, EVAL, TEST, INFERENCE");
    s.usage = *up;
  }
  if (const json* st = get(j, "sample-type")) {
    static const std::set<int64_t> kKinds = {0, 1, 2, 4, 6, 9};
    if (!st->is_number_integer() || !kKinds.count(st->get<int64_t>()))
      fail("sample-type", "must be one of 0 (image), 1 (text), 2 (audio), 4 (table), 6 (video), 9 (other)");
    s.sample_type = st->get<int>();
  }
}

// Metadata: sample properties, then keys this reader has no place for, then the hard fields.
void read_line_metadata(const json& j, ManifestSample& s) {
  if (const json* p = get(j, "property")) {
    if (!p->is_object()) fail("property", "must be an object");
    s.metadata = *p;
  }
  static const std::set<std::string> kKnown = {"source",         "id",          "usage",       "annotation",
                                               "property",       "hard",        "hard-coefficient", "hard_coefficient",
                                               "hard-reasons",   "hard_reasons", "sample-type", "sample_type"};
  for (auto& [k, v] : j.items())
    if (!kKnown.count(k) && !s.metadata.contains(k)) s.metadata[k] = v;
  if (const json* h = get(j, "hard")) s.metadata["@modelarts:hard"] = hard_flag(*h, "hard") ? 1.0 : 0.0;
  if (const json* c = get(j, "hard-coefficient")) s.metadata["@modelarts:hard_coefficient"] = coefficient(*c, "hard-coefficient");
  if (const json* r = get(j, "hard-reasons")) {
    json ids = hard_reasons(*r, "hard-reasons");
    if (!ids.empty()) s.metadata["@modelarts:hard_reasons"] = std::move(ids);
  }
}

// The kind of each annotation entry, all read before any entry: entities
// are triplet entities (103) when the line has relations.
std::vector<Kind> annotation_kinds(const json& anns, bool& has_triplet) {
  std::vector<Kind> kinds;
  has_triplet = false;
  for (size_t i = 0; i < anns.size(); ++i) {
    std::string where = "annotation[" + std::to_string(i) + "]";
    const json& a = anns[i];
    if (!a.is_object()) fail(where, "must be an object");
    auto t = opt_string(a, "type", where + ".type");
    if (!t) fail(where + ".type", "is required");
    auto k = kind_named(*t);
    if (!k)
      fail(where + ".type", "unknown annotation type " + show(*t) +
                                " (expected modelarts/ image_classification, object_detection, image_segmentation, "
                                "text_classification, text_entity, text_triplet, audio_classification, audio_content or "
                                "audio_segmentation)");
    kinds.push_back(*k);
    has_triplet = has_triplet || *k == Kind::kTriplet;
  }
  return kinds;
}

// The annotation entries of one line, read into s.labels; what entries
// tell about each other (entity ids, relation ends, the first VOC size) is
// kept until all are read.
struct AnnotationReader {
  AnnotationReader(ManifestSample& s, int dataset_type, const ReadFile& read_file)
      : s(s), dataset_type(dataset_type), read_file(read_file) {}

  ManifestSample& s;
  int dataset_type;
  const ReadFile& read_file;
  bool triplet_entities = false;
  std::set<std::string> entity_ids;
  std::vector<std::pair<std::string, std::string>> relation_ends;  // field, entity id
  json voc_size;

  void read_all(const json& anns);
  void read_voc_entry(const json& a, const std::string& where, Kind k);
  void read_inline_entry(const json& a, const std::string& where, Kind k, const json* prop);
  void check_kind(json& l, const json& p, const std::string& where, Kind k);
};

void AnnotationReader::read_all(const json& anns) {
  bool has_triplet = false;
  std::vector<Kind> kinds = annotation_kinds(anns, has_triplet);
  triplet_entities = dataset_type == 102 || (dataset_type == 900 && has_triplet);
  for (size_t i = 0; i < anns.size(); ++i) {
    std::string where = "annotation[" + std::to_string(i) + "]";
    const json& a = anns[i];
    Kind k = kinds[i];
    const json* prop = get(a, "property");
    if (prop && !prop->is_object()) fail(where + ".property", "must be an object");
    if ((k == Kind::kDetection || k == Kind::kSegmentation) && get(a, "annotation-loc")) read_voc_entry(a, where, k);
    else read_inline_entry(a, where, k, prop);
  }
  for (auto& [field, id] : relation_ends)
    if (!entity_ids.count(id)) fail(field, show(id) + " names no text_entity of this line");
  if (!voc_size.is_null() && !s.metadata.contains("@modelarts:size")) s.metadata["@modelarts:size"] = voc_size;
}

// A detection or segmentation entry whose labels are in a PASCAL VOC file.
void AnnotationReader::read_voc_entry(const json& a, const std::string& where, Kind k) {
  bool seg = k == Kind::kSegmentation;
  if (auto fmt = opt_string(a, "annotation-format", where + ".annotation-format"); fmt && !is_voc_format(*fmt))
    fail(where + ".annotation-format", "unknown annotation format " + show(*fmt) + " (only PASCAL VOC)");
  std::string loc_field = where + ".annotation-loc";
  std::string path = object_path(*get(a, "annotation-loc"), loc_field);
  std::optional<std::string> xml = read_file(path);
  if (!xml) fail(loc_field, path + " does not exist");
  VocAnnotation voc;
  try {
    voc = parse_voc(*xml, seg);
  } catch (const ManifestError& e) {
    fail(loc_field + " (" + path + ")", e.what());
  }
  for (json& l : voc.labels) {
    common_fields(a, where, l);
    s.labels.push_back(std::move(l));
  }
  if (voc_size.is_null()) voc_size = voc.size;
}

// An entry that carries its label itself: name, id, property, then what its kind requires.
void AnnotationReader::read_inline_entry(const json& a, const std::string& where, Kind k, const json* prop) {
  json l = json::object();
  if (auto name = opt_string(a, "name", where + ".name")) l["name"] = *name;
  if (auto id = opt_string(a, "id", where + ".id")) l["id"] = *id;
  if (prop && !prop->empty()) l["property"] = *prop;
  const json p = prop ? *prop : json::object();
  check_kind(l, p, where, k);
  bool needs_name = k == Kind::kImageCls || k == Kind::kTextCls || k == Kind::kAudioCls || k == Kind::kDetection ||
                    k == Kind::kSegmentation;
  if (needs_name && l.value("name", std::string()).empty()) fail(where + ".name", "is required");
  common_fields(a, where, l);
  s.labels.push_back(std::move(l));
}

// Sets the label type of an inline entry and checks what its kind needs in `p`.
void AnnotationReader::check_kind(json& l, const json& p, const std::string& where, Kind k) {
  std::string pw = where + ".property";
  switch (k) {
    case Kind::kImageCls: l["type"] = dataset_type == 600 ? 600 : 0; break;
    case Kind::kTextCls: l["type"] = 100; break;
    case Kind::kAudioCls: l["type"] = 200; break;
    case Kind::kDetection:
    case Kind::kSegmentation: {  // inline geometry, as in our SampleLabel
      l["type"] = k == Kind::kSegmentation ? 3 : 1;
      if (!p.contains("@modelarts:shape") && !p.contains("@modelarts:feature"))
        fail(where + ".annotation-loc", "is required (or property @modelarts:shape and @modelarts:feature)");
      if (!p.contains("@modelarts:shape") || !p["@modelarts:shape"].is_string())
        fail(pw + "[@modelarts:shape]", "must be a string");
      check_feature(p["@modelarts:shape"].get<std::string>(), p.value("@modelarts:feature", json()),
                    pw + "[@modelarts:feature]");
      break;
    }
    case Kind::kEntity: {
      l["type"] = triplet_entities ? 103 : 101;
      auto si = p.find("@modelarts:start_index"), ei = p.find("@modelarts:end_index");
      for (auto [it, key] : {std::pair{si, "@modelarts:start_index"}, std::pair{ei, "@modelarts:end_index"}}) {
        if (it == p.end()) fail(pw + "[" + key + "]", "is required");
        if (!it->is_number_integer() || it->get<int64_t>() < 0) fail(pw + "[" + key + "]", "must be a non-negative integer");
      }
      int64_t b = si->get<int64_t>(), e = ei->get<int64_t>();
      if (e <= b) fail(pw + "[@modelarts:end_index]", "must be greater than @modelarts:start_index");
      if (s.path.empty() && e > int64_t(utf8_length(s.text)))  // content:// text: offsets must fall inside it
        fail(pw + "[@modelarts:end_index]", std::to_string(e) + " lies beyond the text of " +
                                                std::to_string(utf8_length(s.text)) + " characters");
      if (l.contains("id")) entity_ids.insert(l["id"].get<std::string>());
      break;
    }
    case Kind::kTriplet: {
      l["type"] = 102;
      if (!l.contains("id")) fail(where + ".id", "is required for a text_triplet");
      for (const char* key : {"@modelarts:from", "@modelarts:to"}) {
        if (!p.contains(key)) fail(pw + "[" + key + "]", "is required");
        if (!p[key].is_string()) fail(pw + "[" + key + "]", "must be a string (an entity id)");
        relation_ends.emplace_back(pw + "[" + key + "]", p[key].get<std::string>());
      }
      break;
    }
    case Kind::kAudioContent: {
      l["type"] = 201;
      if (p.contains("@modelarts:content") && !p["@modelarts:content"].is_string())
        fail(pw + "[@modelarts:content]", "must be a string");
      break;
    }
    case Kind::kAudioSeg: {
      l["type"] = 202;
      int64_t b = speech_ms(p, "@modelarts:start_time", pw), e = speech_ms(p, "@modelarts:end_time", pw);
      if (e <= b) fail(pw + "[@modelarts:end_time]", "must be after @modelarts:start_time");
      for (const char* key : {"@modelarts:source", "@modelarts:content"})
        if (p.contains(key) && !p[key].is_string()) fail(pw + "[" + key + "]", "must be a string");
      break;
    }
  }
}

}  // namespace

ManifestSample parse_manifest_line(std::string_view line, int dataset_type, const ReadFile& read_file) {
  json j = line_object(line);
  ManifestSample s;
  read_sample_fields(j, dataset_type, s);
  read_line_metadata(j, s);
  const json* anns = get(j, "annotation");
  if (!anns) return s;
  if (!anns->is_array()) fail("annotation", "must be an array");
  AnnotationReader(s, dataset_type, read_file).read_all(*anns);
  return s;
}

}  // namespace atelier::data
