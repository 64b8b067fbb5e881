// Reading PASCAL VOC documents into labels.
#include <pugixml.hpp>

#include <map>
#include <set>

#include "data/manifest.h"
#include "data/manifest_text.h"

namespace atelier::data {

using namespace manifest_text;

namespace {

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

// The points of a shape element as @modelarts:feature: bndbox, circle and
// point by their named coordinates, any other kind (a point may be written so
// too) by x1, y1, x2, y2, ... Each coordinate present, numeric and >= 0.
json voc_feature(pugi::xml_node shape, const std::string& kind, const std::string& sw) {
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
  return f;
}

// One <object> as a label (type 3 if segmented, else 1): its one shape's
// feature, its properties, difficult flag and coefficient, and confidence;
// `where` names it in errors.
json voc_label(pugi::xml_node obj, const std::string& where, bool segmented) {
  std::string name(trim(obj.child("name").text().get()));
  if (name.empty()) fail(where + ".name", "is missing");
  pugi::xml_node shape;
  for (pugi::xml_node c : obj.children()) {
    if (c.type() != pugi::node_element || !is_shape(c.name())) continue;
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
  json f = voc_feature(shape, kind, sw);
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

}  // namespace atelier::data
