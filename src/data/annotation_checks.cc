#include "data/annotation_checks.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"
#include "data/types.h"

namespace atelier::data {

double num(const json& v, bool& ok) {
  if (v.is_number()) return v.get<double>();
  ok = false;
  return 0;
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

std::map<std::pair<int, std::string>, int64_t> label_counts(const json& labels) {
  std::map<std::pair<int, std::string>, int64_t> m;
  if (labels.is_array())
    for (auto& l : labels)
      if (l.is_object()) m[{label_type_of(l, 0), label_name_of(l)}]++;
  return m;
}

int64_t checked_int(const json& v, int64_t min, int64_t max, const std::string& where) {
  bool ok = v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX));
  if (!ok || v.get<int64_t>() < min || v.get<int64_t>() > max)
    throw bad_request("Invalid parameter " + where + ": must be an integer between " + std::to_string(min) + " and " +
                      std::to_string(max));
  return v.get<int64_t>();
}

namespace {

// An object detection label (type 1): a known shape whose feature lies
// inside the image the sample's metadata @modelarts:size gives.
void check_geometry(const json& prop, const SampleFacts& f, const std::string& where, const std::string& pw) {
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
}

// An entity label (types 101, 103): a span [start, end) inside the sample's text.
void check_entity_span(const json& prop, const SampleFacts& f, const std::string& pw) {
  auto si = prop.find("@modelarts:start_index"), ei = prop.find("@modelarts:end_index");
  if (si == prop.end() || ei == prop.end() || !si->is_number_integer() || !ei->is_number_integer())
    throw bad_request(pw + ": @modelarts:start_index and @modelarts:end_index (integers) are required for entity labels");
  int64_t s = si->get<int64_t>(), e = ei->get<int64_t>();
  if (s < 0 || e <= s || e > f.text_length)
    throw bad_request(pw + ": the span [" + std::to_string(s) + ", " + std::to_string(e) + ") lies outside the text of " +
                      std::to_string(f.text_length) + " characters");
}

// A triplet relation (type 102) between two entity annotations of the sample.
void check_relation(const json& prop, const std::string& pw, const std::set<std::string>& ids_in_sample) {
  for (const char* k : {"@modelarts:from", "@modelarts:to"}) {
    if (!prop.contains(k) || !prop[k].is_string()) throw bad_request(pw + "[" + k + "] (an entity annotation id) is required");
    if (!ids_in_sample.count(prop[k].get<std::string>()))
      throw bad_request(pw + "[" + k + "] names no entity annotation of this sample");
  }
}

// A speech segment (types 201, 202): hh:mm:ss.SSS times, ending after they
// start; type 202 needs both.
void check_speech_segment(const json& prop, int type, const std::string& pw) {
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

// A hard coefficient, when given, is a number in [0, 1] (as text or a number).
void check_hard_coefficient(const json& prop, const std::string& pw) {
  for (const char* k : {"@modelarts:hard_coefficient"}) {
    if (prop.contains(k)) {
      std::string v = prop[k].is_string() ? prop[k].get<std::string>() : prop[k].dump();
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (*end || !(d >= 0 && d <= 1)) throw bad_request(pw + "[" + k + "] must be in [0, 1]");
    }
  }
}

}  // namespace

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

  if (type == 1) check_geometry(prop, f, where, pw);
  else if (type == 101 || type == 103) check_entity_span(prop, f, pw);
  else if (type == 102) check_relation(prop, pw, ids_in_sample);
  else if (type == 202 || type == 201) check_speech_segment(prop, type, pw);
  check_hard_coefficient(prop, pw);
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

}  // namespace atelier::data
