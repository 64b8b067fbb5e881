// Writing manifests (publish, export): a JSON line per sample, and a PASCAL
// VOC document for its detection and segmentation labels.
#include <algorithm>

#include "data/manifest.h"
#include "data/manifest_text.h"

namespace atelier::data {

using manifest_text::time_text;

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

}  // namespace atelier::data
