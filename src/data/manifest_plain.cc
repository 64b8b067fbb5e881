// The plain fast path of manifest imports: lines of the plainest common
// shapes read straight to the texts their sample rows store.
#include <pugixml.hpp>

#include <algorithm>
#include <charconv>

#include "common/ids.h"
#include "data/manifest.h"
#include "data/manifest_text.h"

namespace atelier::data {

using namespace manifest_text;

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

using ReadFile = std::function<std::optional<std::string>(const std::string& obs_path)>;

// What the annotations of a plain line hold, filled as its entries are read.
struct PlainAnnotations {
  int64_t size[3] = {0, 0, 0};  // the line's image size: the first VOC document's that gives one
  std::vector<PlainLabel> labels;
  std::vector<std::string> voc_names;  // names read from VOC documents, which labels point into
};

// One annotation entry of a plain line: a VOC file of bndbox objects
// (detection datasets) or an image_classification name; false for anything else.
bool plain_entry(PlainJson& j, int dataset_type, int64_t now_ms, const ReadFile& read_file, PlainAnnotations& out) {
  std::vector<std::pair<std::string_view, std::string_view>> f;
  if (!j.flat_object(f, 6)) return false;  // six keys are known
  std::string_view type, by = "human";
  std::optional<std::string_view> loc, format, name, created;
  for (auto& [k, v] : f) {
    if (k == "type") type = v;
    else if (k == "annotation-loc") loc = v;
    else if (k == "annotation-format") format = v;
    else if (k == "name") name = v;
    else if (k == "annotated-by") by = v;
    else if (k == "creation-time") created = v;
    else return false;
  }
  int64_t create_time = now_ms;
  if (created) try {
      create_time = creation_ms(std::string(*created), "creation-time");
    } catch (const ManifestError&) {
      return false;
    }
  if (type.rfind("modelarts/", 0) == 0) type.remove_prefix(10);
  if (type == "object_detection" && dataset_type == 1 && loc && !name) {
    if (format && !is_voc_format(*format)) return false;
    auto at = plain_object_path(*loc);
    if (!at) return false;
    std::optional<std::string> xml = read_file(*at);
    if (!xml || !plain_voc(*xml, by, create_time, out.labels, out.size, out.voc_names)) return false;
  } else if (type == "image_classification" && dataset_type == 0 && !loc && !format && name && !name->empty()) {
    out.labels.push_back(PlainLabel{0, *name, by, create_time, false, {}});
  } else {
    return false;
  }
  return true;
}

// The line's keys: source, usage and annotation, each at most once; false
// for anything else.
bool plain_fields(PlainJson& j, int dataset_type, int64_t now_ms, const ReadFile& read_file, PlainLine& p,
                  std::optional<std::string>& path, PlainAnnotations& anns) {
  bool has_usage = false, has_annotation = false;
  if (!j.eat('{') || j.peek('}')) return false;
  do {
    std::string_view key;
    if (!j.string(key) || !j.eat(':')) return false;
    if (key == "source" && !path) {
      std::string_view v;
      if (!j.string(v) || !(path = plain_object_path(v))) return false;
    } else if (key == "usage" && !has_usage) {
      std::string_view v;
      if (!j.string(v)) return false;
      auto usage = usage_named(v);
      if (!usage) return false;
      p.usage = std::move(*usage);
      has_usage = true;
    } else if (key == "annotation" && !has_annotation) {
      has_annotation = true;
      if (!j.eat('[')) return false;
      bool more = !j.peek(']');
      while (more) {
        if (!plain_entry(j, dataset_type, now_ms, read_file, anns)) return false;
        more = j.eat(',');
      }
      if (!j.eat(']')) return false;
    } else {
      return false;
    }
  } while (j.eat(','));
  return j.eat('}') && j.at_end() && path;
}

// The row's texts: the labels array and the metadata object as the generic
// path dumps them.
void plain_texts(const PlainAnnotations& anns, PlainLine& p) {
  // One allocation each: a detection label is ~190 bytes of text.
  p.labels_text.reserve(2 + 224 * anns.labels.size());
  p.metadata_text.reserve(48);
  p.labels_text = "[";
  for (auto& l : anns.labels) {
    append_label(p.labels_text, l);
    p.labels.emplace_back(l.type, std::string(l.name));
  }
  p.labels_text += ']';
  if (anns.size[0] == 0) {
    p.metadata_text = "{}";
  } else {
    p.metadata_text = "{\"@modelarts:size\":[";
    for (int k = 0; k < 3; ++k) {
      append_int(p.metadata_text, anns.size[k]);
      p.metadata_text += k < 2 ? "," : "]}";
    }
  }
}

}  // namespace

std::optional<PlainLine> read_plain_line(std::string_view line, int dataset_type, int64_t now_ms, const ReadFile& read_file) {
  if ((dataset_type != 0 && dataset_type != 1) || line.size() > kMaxManifestLine ||
      utf8_error(line) != std::string_view::npos)
    return std::nullopt;
  PlainJson j(line);
  PlainLine p;
  std::optional<std::string> path;
  PlainAnnotations anns;
  anns.voc_names.reserve(4);
  if (!plain_fields(j, dataset_type, now_ms, read_file, p, path, anns)) return std::nullopt;
  // VOC names were kept aside while the documents went away; boxes are
  // checked against the line's size, as check_annotation does.
  size_t next_name = 0;
  for (auto& l : anns.labels) {
    if (!l.boxed) continue;
    l.name = anns.voc_names[next_name++];
    if (anns.size[0] == 0 || l.box[2] > anns.size[0] || l.box[3] > anns.size[1]) return std::nullopt;
  }
  p.path = std::move(*path);
  plain_texts(anns, p);
  return p;
}

}  // namespace atelier::data
