#include "data/manifest.h"

#include <pugixml.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

#include "common/ids.h"
#include "obs/object_store.h"

namespace atelier::data {

namespace {

const char* kind_of(int label_type) {
  switch (label_type) {
    case 0: return "modelarts/image_classification";
    case 1: return "modelarts/object_detection";
    case 3: return "modelarts/image_segmentation";
    case 100: return "modelarts/text_classification";
    case 101: case 103: return "modelarts/text_entity";
    case 102: return "modelarts/text_triplet";
    case 200: return "modelarts/audio_classification";
    case 201: return "modelarts/audio_content";
    case 202: return "modelarts/audio_segmentation";
    default: return "modelarts/image_classification";
  }
}

std::string time_text(int64_t ms) {
  time_t secs = time_t(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o.push_back(c);
    }
  }
  return o;
}

std::string num(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    std::string s = json(v.get<double>()).dump();
    return s;
  }
  return "0";
}

bool is_hard(const json& prop) {
  if (!prop.is_object() || !prop.contains("@modelarts:hard")) return false;
  const json& h = prop["@modelarts:hard"];
  return h == "1" || h == "true" || h == true || h == 1;
}

}  // namespace

std::string voc_xml(const ManifestSample& s, bool segmented) {
  std::string name = s.path.substr(s.path.rfind('/') + 1);
  std::string dir = s.path.substr(0, s.path.rfind('/'));
  std::string folder = dir.substr(dir.rfind('/') + 1);
  json size = s.metadata.is_object() ? s.metadata.value("@modelarts:size", json::array()) : json::array();
  auto dim = [&](size_t i, const char* def) { return size.is_array() && size.size() > i ? num(size[i]) : std::string(def); };
  std::string x = "<annotation>\n  <folder>" + xml_escape(folder) + "</folder>\n  <filename>" + xml_escape(name) +
                  "</filename>\n  <source><database>Unknown</database></source>\n  <size><width>" + dim(0, "0") +
                  "</width><height>" + dim(1, "0") + "</height><depth>" + dim(2, "3") + "</depth></size>\n  <segmented>" +
                  (segmented ? "1" : "0") + "</segmented>\n";
  for (auto& l : s.labels) {
    int t = l.value("type", 0);
    if (t != 1 && t != 3) continue;
    json prop = l.value("property", json::object());
    std::string shape = prop.value("@modelarts:shape", std::string("bndbox"));
    json f = prop.value("@modelarts:feature", json::array());
    x += "  <object>\n    <name>" + xml_escape(l.value("name", std::string())) +
         "</name><pose>Unspecified</pose><truncated>0</truncated><occluded>0</occluded><difficult>" +
         (is_hard(prop) ? "1" : "0") + "</difficult>\n";
    if (prop.contains("@modelarts:hard_coefficient"))
      x += "    <difficult-coefficient>" + xml_escape(prop["@modelarts:hard_coefficient"].is_string()
                                                        ? prop["@modelarts:hard_coefficient"].get<std::string>()
                                                        : prop["@modelarts:hard_coefficient"].dump()) +
           "</difficult-coefficient>\n";
    if (l.contains("score") && l["score"].is_number()) x += "    <confidence>" + num(l["score"]) + "</confidence>\n";
    auto pt = [&](size_t i, size_t k) { return f.size() > i && f[i].is_array() && f[i].size() > k ? num(f[i][k]) : "0"; };
    x += "    <" + shape + ">";
    if (shape == "bndbox") {
      x += "<xmin>" + pt(0, 0) + "</xmin><ymin>" + pt(0, 1) + "</ymin><xmax>" + pt(1, 0) + "</xmax><ymax>" + pt(1, 1) + "</ymax>";
    } else if (shape == "circle") {
      x += "<cx>" + pt(0, 0) + "</cx><cy>" + pt(0, 1) + "</cy><r>" + pt(1, 0) + "</r>";
    } else if (shape == "point") {
      x += "<x>" + pt(0, 0) + "</x><y>" + pt(0, 1) + "</y>";
    } else {
      for (size_t i = 0; i < f.size(); ++i)
        x += "<x" + std::to_string(i + 1) + ">" + pt(i, 0) + "</x" + std::to_string(i + 1) + "><y" + std::to_string(i + 1) +
             ">" + pt(i, 1) + "</y" + std::to_string(i + 1) + ">";
    }
    x += "</" + shape + ">\n";
    bool any = false;
    std::string props;
    for (auto& [k, v] : prop.items()) {
      if (k.rfind("@modelarts:", 0) == 0) continue;
      any = true;
      props += "<property><key>" + xml_escape(k) + "</key><value>" + xml_escape(v.is_string() ? v.get<std::string>() : v.dump()) +
               "</value></property>";
    }
    if (any) x += "    <properties>" + props + "</properties>\n";
    x += "  </object>\n";
  }
  return x + "</annotation>\n";
}

std::string manifest_line(const ManifestSample& s, int dataset_type,
                          const std::function<std::string(const std::string& xml, std::string_view suffix)>& write_voc,
                          std::string_view scheme) {
  json line = json::object();
  bool text = dataset_type >= 100 && dataset_type < 200;
  line["source"] = text ? "content://" + s.text : std::string(scheme) + s.path.substr(1);
  line["id"] = s.id;
  if (!s.usage.empty()) line["usage"] = s.usage;
  if (dataset_type == 900 && s.sample_type >= 0) line["sample-type"] = s.sample_type;
  json md = s.metadata.is_object() ? s.metadata : json::object();
  if (md.contains("@modelarts:hard")) line["hard"] = is_hard(md) ? "true" : "false";
  if (md.contains("@modelarts:hard_coefficient")) line["hard-coefficient"] = md["@modelarts:hard_coefficient"];
  // Reason IDs (an array of integers in metadata) as the "1-3" extension key.
  if (md.contains("@modelarts:hard_reasons") && md["@modelarts:hard_reasons"].is_array()) {
    std::string reasons;
    for (auto& id : md["@modelarts:hard_reasons"])
      if (id.is_number_integer()) reasons += (reasons.empty() ? "" : "-") + std::to_string(id.get<int64_t>());
    if (!reasons.empty()) line["hard-reasons"] = reasons;
  }
  // Keys the format has no place for travel as sample properties.
  json property = json::object();
  for (auto& [k, v] : md.items())
    if (k != "@modelarts:hard" && k != "@modelarts:hard_coefficient" && k != "@modelarts:hard_reasons") property[k] = v;
  if (!property.empty()) line["property"] = property;
  json ann = json::array();
  bool geometry = false, segmented = false;
  for (auto& l : s.labels) {
    int t = l.value("type", 0);
    if (t == 1 || t == 3) {
      geometry = true;
      segmented = segmented || t == 3;
      continue;
    }
    json a = json::object();
    a["type"] = kind_of(t);
    if (l.contains("name")) a["name"] = l["name"];
    if (l.contains("id") && (t == 102 || t == 103)) a["id"] = l["id"];
    json p = l.value("property", json::object());
    if (p.is_object() && !p.empty()) a["property"] = p;
    a["annotated-by"] = l.value("annotated_by", std::string("human"));
    if (l.contains("create_time") && l["create_time"].is_number_integer())
      a["creation-time"] = time_text(l["create_time"].get<int64_t>());
    if (l.contains("score")) a["confidence"] = l["score"];
    ann.push_back(std::move(a));
  }
  auto voc_entry = [&](const ManifestSample& part, bool seg, std::string_view suffix) {
    json a = json::object();
    a["type"] = seg ? "modelarts/image_segmentation" : "modelarts/object_detection";
    a["annotation-loc"] = write_voc(voc_xml(part, seg), suffix);
    a["annotation-format"] = "PASCAL VOC";
    a["annotated-by"] = "human";
    ann.push_back(std::move(a));
  };
  bool boxes = std::any_of(s.labels.begin(), s.labels.end(), [](const json& l) { return l.value("type", 0) == 1; });
  if (geometry && segmented && boxes) {
    // A free-format sample with both kinds: one VOC document each, so that
    // the boxes come back as detection labels and the rest as segmentation.
    for (int t : {1, 3}) {
      ManifestSample part = s;
      part.labels = json::array();
      for (auto& l : s.labels)
        if (l.value("type", 0) == t) part.labels.push_back(l);
      voc_entry(part, t == 3, t == 3 ? "_segmentation" : "");
    }
  } else if (geometry) {
    voc_entry(s, segmented, "");
  }
  if (!ann.empty()) line["annotation"] = std::move(ann);
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

// ------------------------------------------------------------------ reading

namespace {

[[noreturn]] void fail(const std::string& field, const std::string& why) { throw ManifestError(field + ": " + why); }

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string_view() : s.substr(b, e - b + 1);
}

// ASCII only: the words compared are the format's own (schemes, formats,
// usages), and the C library's tolower is a call a character.
std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o)
    if (c >= 'A' && c <= 'Z') c = char(c + ('a' - 'A'));
  return o;
}

// Length of the well-formed UTF-8 sequence at s[i], 0 if there is none.
size_t utf8_seq(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  unsigned c = at(0);
  auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) { return at(k) >= lo && at(k) <= hi; };
  if (i >= s.size()) return 0;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF)
    return cont(1, c == 0xE0 ? 0xA0 : 0x80, c == 0xED ? 0x9F : 0xBF) && cont(2) ? 3 : 0;
  if (c >= 0xF0 && c <= 0xF4)
    return cont(1, c == 0xF0 ? 0x90 : 0x80, c == 0xF4 ? 0x8F : 0xBF) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// Offset of the first byte that is not well-formed UTF-8, npos if none.
size_t utf8_error(std::string_view s) {
  size_t ascii = 0;  // most text is ASCII: skip it eight bytes at a time
  for (uint64_t w; ascii + 8 <= s.size(); ascii += 8) {
    std::memcpy(&w, s.data() + ascii, 8);
    if (w & 0x8080808080808080ull) break;
  }
  for (size_t i = ascii; i < s.size();) {
    size_t n = utf8_seq(s, i);
    if (!n) return i;
    i += n;
  }
  return std::string_view::npos;
}

// Text safe to put in an error message (and so in a JSON response): control
// characters and bytes that are not UTF-8 as \xNN, cut after `max` characters.
std::string printable(std::string_view s, size_t max = 200) {
  std::string o;
  size_t i = 0;
  for (size_t chars = 0; i < s.size() && chars < max; ++chars) {
    size_t n = utf8_seq(s, i);
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (n == 0 || c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      o += buf;
      i += 1;
    } else {
      o.append(s.substr(i, n));
      i += n;
    }
  }
  return i < s.size() ? o + "..." : o;
}

// A value quoted for an error message, cut short when long.
std::string show(std::string_view s) { return "'" + printable(s, 64) + "'"; }

// A number as written: integers stay integers, anything else finite is a double.
std::optional<json> parse_number(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  const char* end = s.data() + s.size();
  int64_t i;
  auto ri = std::from_chars(s.data(), end, i);
  if (ri.ec == std::errc() && ri.ptr == end) return json(i);
  double d;
  auto rd = std::from_chars(s.data(), end, d);
  if (rd.ec == std::errc() && rd.ptr == end && std::isfinite(d)) return json(d);
  return std::nullopt;
}

const std::set<std::string_view> kShapes = {"bndbox", "polygon", "polyline", "line", "dashed", "point", "circle"};
const char* const kShapeList = "bndbox, polygon, polyline, line, dashed, point, circle";

// Checks an @modelarts:feature against its shape (modelarts-api.md §1.0.10).
void check_feature(const std::string& shape, const json& f, const std::string& field) {
  if (!kShapes.count(shape)) fail(field, "unknown shape kind " + show(shape) + " (expected one of " + kShapeList + ")");
  if (!f.is_array()) fail(field, "@modelarts:feature must be a list of points");
  for (size_t i = 0; i < f.size(); ++i) {
    const json& p = f[i];
    size_t arity = shape == "circle" && i == 1 ? 1 : 2;
    if (!p.is_array() || p.size() != arity)
      fail(field, "@modelarts:feature[" + std::to_string(i) + "] must be " + (arity == 1 ? "[r]" : "[x, y]"));
    for (auto& c : p) {
      if (!c.is_number()) fail(field, "@modelarts:feature[" + std::to_string(i) + "] holds a non-number");
      if (c.get<double>() < 0) fail(field, "@modelarts:feature[" + std::to_string(i) + "]: coordinates must be >= 0");
    }
  }
  auto need = [&](size_t n, bool exact) {
    if (exact ? f.size() != n : f.size() < n)
      fail(field, "a " + shape + " needs " + (exact ? "" : "at least ") + std::to_string(n) + " points, not " +
                      std::to_string(f.size()));
  };
  if (shape == "bndbox") {
    need(2, true);
    if (!(f[0][0].get<double>() < f[1][0].get<double>() && f[0][1].get<double>() < f[1][1].get<double>()))
      fail(field, "invalid bndbox: xmin must be < xmax and ymin < ymax");
  } else if (shape == "polygon") {
    need(3, false);
  } else if (shape == "polyline") {
    need(2, false);
  } else if (shape == "line" || shape == "dashed") {
    need(2, true);
  } else if (shape == "point") {
    need(1, true);
  } else if (shape == "circle") {
    if (f.size() != 2) fail(field, "a circle is [[cx, cy], [r]]");
    if (!(f[1][0].get<double>() > 0)) fail(field, "a circle needs r > 0");
  }
}

// The number held by element `n`, named `field` in errors.
json voc_number(pugi::xml_node n, const std::string& field) {
  std::string_view t = n.text().get();
  auto v = parse_number(t);
  if (!v) fail(field, trim(t).empty() ? "is empty" : show(trim(t)) + " is not a number");
  return *v;
}

// The coordinate in <parent><name>: present, numeric, >= 0.
json voc_coord(pugi::xml_node parent, const std::string& name, const std::string& where) {
  std::string field = where + "." + name;
  pugi::xml_node n = parent.child(name.c_str());
  if (!n) fail(field, "is missing");
  json v = voc_number(n, field);
  if (v.get<double>() < 0) fail(field, "must be >= 0");
  return v;
}

// Children of the VOC <object> element that are not shapes.
const std::set<std::string_view> kObjectFields = {"name", "pose", "truncated", "occluded", "difficult",
                                                   "difficult-coefficient", "hard-coefficient", "confidence",
                                                   "mask_color", "properties"};

json voc_label(pugi::xml_node obj, const std::string& where, bool segmented) {
  std::string name(trim(obj.child("name").text().get()));
  if (name.empty()) fail(where + ".name", "is missing");
  pugi::xml_node shape;
  for (pugi::xml_node c : obj.children()) {
    if (c.type() != pugi::node_element || !kShapes.count(c.name())) continue;
    if (shape) fail(where, "has more than one shape (<" + std::string(shape.name()) + "> and <" + c.name() + ">)");
    shape = c;
  }
  if (!shape) {
    for (pugi::xml_node c : obj.children()) {
      if (c.type() != pugi::node_element || kObjectFields.count(c.name())) continue;
      if (c.find_child([](pugi::xml_node x) { return x.type() == pugi::node_element; }))
        fail(where, "unknown shape kind <" + printable(c.name(), 64) + "> (expected one of " + kShapeList + ")");
    }
    fail(where, std::string("has no shape (one of ") + kShapeList + ")");
  }
  std::string kind = shape.name(), sw = where + "." + kind;
  json f = json::array();
  if (kind == "bndbox") {
    f = {{voc_coord(shape, "xmin", sw), voc_coord(shape, "ymin", sw)},
         {voc_coord(shape, "xmax", sw), voc_coord(shape, "ymax", sw)}};
  } else if (kind == "circle") {
    f = {{voc_coord(shape, "cx", sw), voc_coord(shape, "cy", sw)}, {voc_coord(shape, "r", sw)}};
  } else if (kind == "point" && shape.child("x")) {
    f = {{voc_coord(shape, "x", sw), voc_coord(shape, "y", sw)}};
  } else {  // x1, y1, x2, y2, ... (a point may be written so too)
    std::map<int, std::pair<json, json>> pts;
    for (pugi::xml_node c : shape.children()) {
      std::string_view n = c.name();
      if (c.type() != pugi::node_element || n.size() < 2 || n.size() > 7 || (n[0] != 'x' && n[0] != 'y') ||
          n.find_first_not_of("0123456789", 1) != std::string_view::npos || n[1] == '0')
        continue;
      json& slot = n[0] == 'x' ? pts[std::stoi(std::string(n.substr(1)))].first : pts[std::stoi(std::string(n.substr(1)))].second;
      if (!slot.is_null()) fail(sw + "." + std::string(n), "appears twice");
      slot = voc_coord(shape, std::string(n), sw);
    }
    int expect = 1;
    for (auto& [i, p] : pts) {
      if (i != expect) fail(sw + ".x" + std::to_string(expect), "is missing");
      if (p.first.is_null()) fail(sw + ".x" + std::to_string(i), "is missing");
      if (p.second.is_null()) fail(sw + ".y" + std::to_string(i), "is missing");
      f.push_back({p.first, p.second});
      ++expect;
    }
    if (kind == "point" && f.empty()) fail(sw + ".x", "is missing");
  }
  check_feature(kind, f, sw);

  json prop = json::object();
  if (pugi::xml_node ps = obj.child("properties")) {
    int i = 0;
    for (pugi::xml_node p : ps.children("property")) {
      std::string key = p.child("key").text().get();
      if (key.empty()) fail(where + ".properties.property[" + std::to_string(i) + "].key", "is missing");
      prop[key] = p.child("value").text().get();
      ++i;
    }
  }
  prop["@modelarts:shape"] = kind;
  prop["@modelarts:feature"] = std::move(f);
  if (pugi::xml_node d = obj.child("difficult")) {
    std::string v = lower(trim(d.text().get()));
    if (v == "1" || v == "true")
      prop["@modelarts:hard"] = "1";
    else if (v != "0" && v != "false" && !v.empty())
      fail(where + ".difficult", show(v) + " is not 0 or 1");
  }
  pugi::xml_node coef = obj.child("difficult-coefficient");
  if (!coef) coef = obj.child("hard-coefficient");
  if (coef) {
    std::string field = where + "." + coef.name();
    double c = voc_number(coef, field).get<double>();
    if (c < 0 || c > 1) fail(field, "must be in [0, 1]");
    prop["@modelarts:hard_coefficient"] = std::string(trim(coef.text().get()));
  }
  json l = {{"name", name}, {"type", segmented ? 3 : 1}, {"property", std::move(prop)}};
  if (pugi::xml_node c = obj.child("confidence")) {
    json score = voc_number(c, where + ".confidence");
    if (score.get<double>() < 0 || score.get<double>() > 1) fail(where + ".confidence", "must be in [0, 1]");
    l["score"] = score;
  }
  return l;
}

}  // namespace

VocAnnotation parse_voc(std::string_view xml, bool segmented) {
  if (size_t bad = utf8_error(xml); bad != std::string_view::npos)
    fail("VOC", "not valid UTF-8 at byte " + std::to_string(bad));
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!r) fail("VOC", std::string("not well-formed XML: ") + r.description() + " at byte " + std::to_string(r.offset));
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "annotation")
    fail("VOC", "the root element must be <annotation>, not <" + printable(root.name(), 64) + ">");
  VocAnnotation out;
  if (pugi::xml_node size = root.child("size"); size && size.child("width") && size.child("height")) {
    json dim = json::array();
    for (const char* k : {"width", "height", "depth"}) {
      pugi::xml_node n = size.child(k);
      json v = n ? voc_number(n, std::string("VOC size.") + k) : json(3);
      if (v.get<double>() < 0) fail(std::string("VOC size.") + k, "must be >= 0");
      dim.push_back(v);
    }
    if (dim[0].get<double>() > 0 && dim[1].get<double>() > 0) out.size = std::move(dim);
  }
  int i = 0;
  for (pugi::xml_node obj : root.children("object"))
    out.labels.push_back(voc_label(obj, "VOC object[" + std::to_string(i++) + "]", segmented));
  return out;
}

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

// "obs://b/k", "s3://b/k", "s3a://b/k" (any case) or "/b/k" -> "/b/k"; for
// anything else "" and the reason in `why`.
std::string object_uri(std::string_view s, std::string& why) {
  std::string_view rest = s;
  size_t colon = s.find("://");
  if (colon != std::string_view::npos) {
    std::string scheme = lower(s.substr(0, colon));
    if (scheme != "obs" && scheme != "s3" && scheme != "s3a")
      return why = "unsupported URI scheme in " + show(s) + " (expected obs://, s3://, s3a:// or /bucket/key)", "";
    rest.remove_prefix(colon + 3);
  } else if (!s.empty() && s.front() == '/') {
    rest.remove_prefix(1);
  } else {
    return why = show(s) + " is not an object URI (expected obs://bucket/key, s3://bucket/key or /bucket/key)", "";
  }
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) return why = show(s) + " names no object (bucket/key)", "";
  std::string_view bucket = rest.substr(0, slash), key = rest.substr(slash + 1);
  if (!obs::valid_bucket(bucket)) return why = show(bucket) + " is not a valid bucket name", "";
  if (key.back() == '/') return why = show(s) + " names a folder, not an object", "";
  if (!obs::valid_key(key)) return why = show(key) + " is not a valid object key", "";
  return "/" + std::string(bucket) + "/" + std::string(key);
}

std::string object_path(const json& v, const std::string& field) {
  if (!v.is_string()) fail(field, "must be a string");
  std::string why, path = object_uri(v.get_ref<const std::string&>(), why);
  if (path.empty()) fail(field, why);
  return path;
}

// A usage in upper case ("" stays ""); nullopt for an unknown one.
std::optional<std::string> usage_named(std::string_view u) {
  std::string up(u);
  for (char& c : up) c = char(std::toupper(static_cast<unsigned char>(c)));
  if (up != "TRAIN" && up != "EVAL" && up != "TEST" && up != "INFERENCE" && !up.empty()) return std::nullopt;
  return up;
}

// Whether an annotation-format names PASCAL VOC ("PASCAL VOC", "pascal_voc", "VOC", ...).
bool is_voc_format(std::string_view format) {
  std::string f;
  for (char c : lower(format))
    if (c != ' ' && c != '_' && c != '-') f.push_back(c);
  return f == "pascalvoc" || f == "voc";
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

// "yyyy-MM-dd HH:mm:ss" (UTC, as the writer prints it) -> ms.
int64_t creation_ms(const std::string& s, const std::string& field) {
  // The lines of one manifest often share their time: the last one read on
  // this thread is kept.
  thread_local std::string last;
  thread_local int64_t last_ms = 0;
  if (!last.empty() && s == last) return last_ms;
  struct tm tm {};
  char tail;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &tail) != 6)
    fail(field, show(s) + " is not yyyy-MM-dd HH:mm:ss");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t ms = int64_t(timegm(&tm)) * 1000;
  if (time_text(ms) != s) fail(field, show(s) + " is not a valid yyyy-MM-dd HH:mm:ss time");
  last = s;
  last_ms = ms;
  return ms;
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

}  // namespace

ManifestSample parse_manifest_line(
    std::string_view line, int dataset_type,
    const std::function<std::optional<std::string>(const std::string& obs_path)>& read_file) {
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
  ManifestSample s;

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

  // Metadata: sample properties, then keys this reader has no place for, then the hard fields.
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

  const json* anns = get(j, "annotation");
  if (!anns) return s;
  if (!anns->is_array()) fail("annotation", "must be an array");
  // Kinds first: entities are triplet entities (103) when the line has relations.
  std::vector<Kind> kinds;
  bool has_triplet = false;
  for (size_t i = 0; i < anns->size(); ++i) {
    std::string where = "annotation[" + std::to_string(i) + "]";
    const json& a = (*anns)[i];
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
  bool triplet_entities = dataset_type == 102 || (dataset_type == 900 && has_triplet);
  std::set<std::string> entity_ids;
  std::vector<std::pair<std::string, std::string>> relation_ends;  // field, entity id
  json voc_size;
  for (size_t i = 0; i < anns->size(); ++i) {
    std::string where = "annotation[" + std::to_string(i) + "]";
    const json& a = (*anns)[i];
    Kind k = kinds[i];
    const json* prop = get(a, "property");
    if (prop && !prop->is_object()) fail(where + ".property", "must be an object");
    std::string pw = where + ".property";

    if ((k == Kind::kDetection || k == Kind::kSegmentation) && get(a, "annotation-loc")) {
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
      continue;
    }

    json l = json::object();
    if (auto name = opt_string(a, "name", where + ".name")) l["name"] = *name;
    if (auto id = opt_string(a, "id", where + ".id")) l["id"] = *id;
    if (prop && !prop->empty()) l["property"] = *prop;
    const json p = prop ? *prop : json::object();
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
    bool needs_name = k == Kind::kImageCls || k == Kind::kTextCls || k == Kind::kAudioCls || k == Kind::kDetection ||
                      k == Kind::kSegmentation;
    if (needs_name && l.value("name", std::string()).empty()) fail(where + ".name", "is required");
    common_fields(a, where, l);
    s.labels.push_back(std::move(l));
  }
  for (auto& [field, id] : relation_ends)
    if (!entity_ids.count(id)) fail(field, show(id) + " names no text_entity of this line");
  if (!voc_size.is_null() && !s.metadata.contains("@modelarts:size")) s.metadata["@modelarts:size"] = voc_size;
  return s;
}

}  // namespace atelier::data

// ------------------------------------------------------------------ the plain fast path

namespace atelier::data {

namespace {

// Reads the JSON of a plain line: one object whose values are strings or an
// array of objects whose values are strings, no string with an escape or a
// control character. Anything else reads as false.
class PlainJson {
 public:
  explicit PlainJson(std::string_view s) : s_(s) {}

  bool ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) ++i_;
    return true;
  }
  bool eat(char c) {
    ws();
    if (i_ >= s_.size() || s_[i_] != c) return false;
    ++i_;
    return true;
  }
  bool peek(char c) {
    ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool string(std::string_view& out) {
    if (!eat('"')) return false;
    size_t b = i_;
    for (; i_ < s_.size(); ++i_) {
      unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') break;
      if (c == '\\' || c < 0x20) return false;
    }
    if (i_ >= s_.size()) return false;
    out = s_.substr(b, i_ - b);
    ++i_;
    return true;
  }
  // {"key": "value", ...} into `fields`, at most `max` of them; a repeated
  // key or one too many reads as false.
  bool flat_object(std::vector<std::pair<std::string_view, std::string_view>>& fields, size_t max) {
    if (!eat('{')) return false;
    if (eat('}')) return true;
    do {
      std::string_view k, v;
      if (fields.size() == max || !string(k) || !eat(':') || !string(v)) return false;
      for (auto& f : fields)
        if (f.first == k) return false;
      fields.emplace_back(k, v);
    } while (eat(','));
    return eat('}');
  }
  bool at_end() { return ws() && i_ == s_.size(); }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// The object path of a URI, as object_path reads it; nullopt for anything it refuses.
std::optional<std::string> plain_object_path(std::string_view s) {
  std::string why, path = object_uri(s, why);
  if (path.empty()) return std::nullopt;
  return path;
}

// A VOC number written as a plain non-negative integer (what voc_number
// reads as a JSON integer); nullopt for anything else.
std::optional<int64_t> plain_int(std::string_view t) {
  t = trim(t);
  if (t.empty() || t.size() > 9) return std::nullopt;
  int64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A string json::dump() writes as it is: no quote, backslash or control character.
bool dumps_raw(std::string_view s) {
  for (unsigned char c : s)
    if (c == '"' || c == '\\' || c < 0x20) return false;
  return true;
}

// A label of a plain line before it is written out.
struct PlainLabel {
  int type;
  std::string_view name, by;
  int64_t create_time;
  bool boxed;
  int64_t box[4];  // xmin, ymin, xmax, ymax
};

// The bndbox objects of a VOC document into `out` and, when the line has no
// size yet, its size into `size` (width, height, depth; all 0 while none);
// false when the document is not of the plain kind. `xml` is parsed in
// place, so it is changed; the label names are copied into `names`.
bool plain_voc(std::string& xml, std::string_view by, int64_t create_time, std::vector<PlainLabel>& out,
               int64_t size[3], std::vector<std::string>& names) {
  if (utf8_error(xml) != std::string_view::npos) return false;
  pugi::xml_document doc;
  if (!doc.load_buffer_inplace(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8)) return false;
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "annotation") return false;
  if (pugi::xml_node s = root.child("size"); s && s.child("width") && s.child("height")) {
    int64_t dim[3];
    const char* keys[3] = {"width", "height", "depth"};
    for (int k = 0; k < 3; ++k) {
      pugi::xml_node n = s.child(keys[k]);
      auto v = n ? plain_int(n.text().get()) : std::optional<int64_t>(3);
      if (!v) return false;
      dim[k] = *v;
    }
    if (size[0] == 0 && dim[0] > 0 && dim[1] > 0) std::copy(dim, dim + 3, size);
  }
  for (pugi::xml_node obj : root.children("object")) {
    int boxes = 0;
    for (pugi::xml_node c : obj.children()) {
      if (c.type() != pugi::node_element) continue;
      std::string_view n = c.name();
      if (n != "name" && n != "pose" && n != "truncated" && n != "occluded" && n != "difficult" && n != "bndbox") return false;
      if (n == "bndbox" && ++boxes > 1) return false;  // the generic path refuses two shapes
    }
    // A character reference (&#xD800;) can make a name that is not UTF-8
    // out of a document that is.
    std::string_view name = trim(obj.child("name").text().get());
    if (name.empty() || !dumps_raw(name) || utf8_error(name) != std::string_view::npos) return false;
    if (pugi::xml_node d = obj.child("difficult")) {
      std::string v = lower(trim(d.text().get()));
      if (v != "0" && v != "false" && !v.empty()) return false;
    }
    pugi::xml_node b = obj.child("bndbox");
    if (!b) return false;
    PlainLabel l{1, {}, by, create_time, true, {}};
    const char* keys[4] = {"xmin", "ymin", "xmax", "ymax"};
    for (int k = 0; k < 4; ++k) {
      pugi::xml_node n = b.child(keys[k]);
      auto v = n ? plain_int(n.text().get()) : std::nullopt;
      if (!v) return false;
      l.box[k] = *v;
    }
    if (!(l.box[0] < l.box[2] && l.box[1] < l.box[3])) return false;
    names.emplace_back(name);
    out.push_back(l);
  }
  return true;
}

// One label as the generic path stores it: keys in json's (sorted) order.
void append_label(std::string& out, const PlainLabel& l) {
  out += out.size() > 1 ? ",{\"annotated_by\":\"" : "{\"annotated_by\":\"";
  out += l.by;
  out += "\",\"create_time\":";
  append_int(out, l.create_time);
  out += ",\"id\":\"";
  out += ids::base62_19();
  out += "\",\"name\":\"";
  out += l.name;
  out += '"';
  if (l.boxed) {
    out += ",\"property\":{\"@modelarts:feature\":[[";
    for (int k = 0; k < 4; ++k) {
      append_int(out, l.box[k]);
      out += k == 0 || k == 2 ? "," : k == 1 ? "],[" : "]]";
    }
    out += ",\"@modelarts:shape\":\"bndbox\"}";
  }
  out += ",\"type\":";
  append_int(out, l.type);
  out += '}';
}

}  // namespace

std::optional<PlainLine> read_plain_line(
    std::string_view line, int dataset_type, int64_t now_ms,
    const std::function<std::optional<std::string>(const std::string& obs_path)>& read_file) {
  if ((dataset_type != 0 && dataset_type != 1) || line.size() > kMaxManifestLine ||
      utf8_error(line) != std::string_view::npos)
    return std::nullopt;
  PlainJson j(line);
  PlainLine p;
  std::optional<std::string> path;
  bool has_usage = false, has_annotation = false;
  int64_t size[3] = {0, 0, 0};  // the line's image size: the first VOC document's that gives one
  std::vector<PlainLabel> labels;
  std::vector<std::string> voc_names;  // names read from VOC documents, which labels point into
  voc_names.reserve(4);
  if (!j.eat('{') || j.peek('}')) return std::nullopt;
  do {
    std::string_view key;
    if (!j.string(key) || !j.eat(':')) return std::nullopt;
    if (key == "source" && !path) {
      std::string_view v;
      if (!j.string(v) || !(path = plain_object_path(v))) return std::nullopt;
    } else if (key == "usage" && !has_usage) {
      std::string_view v;
      if (!j.string(v)) return std::nullopt;
      auto usage = usage_named(v);
      if (!usage) return std::nullopt;
      p.usage = std::move(*usage);
      has_usage = true;
    } else if (key == "annotation" && !has_annotation) {
      has_annotation = true;
      if (!j.eat('[')) return std::nullopt;
      bool more = !j.peek(']');
      while (more) {
        std::vector<std::pair<std::string_view, std::string_view>> f;
        if (!j.flat_object(f, 6)) return std::nullopt;  // six keys are known
        std::string_view type, by = "human";
        std::optional<std::string_view> loc, format, name, created;
        for (auto& [k, v] : f) {
          if (k == "type") type = v;
          else if (k == "annotation-loc") loc = v;
          else if (k == "annotation-format") format = v;
          else if (k == "name") name = v;
          else if (k == "annotated-by") by = v;
          else if (k == "creation-time") created = v;
          else return std::nullopt;
        }
        int64_t create_time = now_ms;
        if (created) try {
            create_time = creation_ms(std::string(*created), "creation-time");
          } catch (const ManifestError&) {
            return std::nullopt;
          }
        if (type.rfind("modelarts/", 0) == 0) type.remove_prefix(10);
        if (type == "object_detection" && dataset_type == 1 && loc && !name) {
          if (format && !is_voc_format(*format)) return std::nullopt;
          auto at = plain_object_path(*loc);
          if (!at) return std::nullopt;
          std::optional<std::string> xml = read_file(*at);
          if (!xml || !plain_voc(*xml, by, create_time, labels, size, voc_names)) return std::nullopt;
        } else if (type == "image_classification" && dataset_type == 0 && !loc && !format && name && !name->empty()) {
          labels.push_back(PlainLabel{0, *name, by, create_time, false, {}});
        } else {
          return std::nullopt;
        }
        more = j.eat(',');
      }
      if (!j.eat(']')) return std::nullopt;
    } else {
      return std::nullopt;
    }
  } while (j.eat(','));
  if (!j.eat('}') || !j.at_end() || !path) return std::nullopt;
  // VOC names were kept aside while the documents went away; boxes are
  // checked against the line's size, as check_annotation does.
  size_t next_name = 0;
  for (auto& l : labels) {
    if (!l.boxed) continue;
    l.name = voc_names[next_name++];
    if (size[0] == 0 || l.box[2] > size[0] || l.box[3] > size[1]) return std::nullopt;
  }
  p.path = std::move(*path);
  // One allocation each: a detection label is ~190 bytes of text.
  p.labels_text.reserve(2 + 224 * labels.size());
  p.metadata_text.reserve(48);
  p.labels_text = "[";
  for (auto& l : labels) {
    append_label(p.labels_text, l);
    p.labels.emplace_back(l.type, std::string(l.name));
  }
  p.labels_text += ']';
  if (size[0] == 0) {
    p.metadata_text = "{}";
  } else {
    p.metadata_text = "{\"@modelarts:size\":[";
    for (int k = 0; k < 3; ++k) {
      append_int(p.metadata_text, size[k]);
      p.metadata_text += k < 2 ? "," : "]}";
    }
  }
  return p;
}

}  // namespace atelier::data
