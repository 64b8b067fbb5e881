#include "data/manifest.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "test_util.h"

using atelier::json;
using atelier::data::kMaxManifestLine;
using atelier::data::manifest_line;
using atelier::data::ManifestError;
using atelier::data::ManifestSample;
using atelier::data::parse_manifest_line;
using atelier::data::parse_voc;
using atelier::data::VocAnnotation;

namespace {

// An object store in a map: manifest_line writes its VOC files into it and
// parse_manifest_line reads them back from it.
struct Files {
  std::map<std::string, std::string> objects;  // /bucket/key -> content

  std::string write(const std::string& xml) {
    std::string p = "/out-bkt/V001/annotations/" + std::to_string(objects.size()) + ".xml";
    objects[p] = xml;
    return "obs:/" + p;
  }
  std::optional<std::string> read(const std::string& path) const {
    auto it = objects.find(path);
    if (it == objects.end()) return std::nullopt;
    return it->second;
  }
  auto writer() {
    return [this](const std::string& xml, std::string_view) { return write(xml); };
  }
  auto reader() const {
    return [this](const std::string& p) { return read(p); };
  }
};

const auto kNoFiles = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };

// Writes `in` as a manifest line and reads it back; `line` receives the line.
ManifestSample round_trip(const ManifestSample& in, int type, Files& files, std::string* line = nullptr) {
  std::string l = manifest_line(in, type, files.writer());
  EXPECT_EQ(l.find('\n'), std::string::npos) << l;
  if (line) *line = l;
  return parse_manifest_line(l, type, files.reader());
}

void expect_same(const ManifestSample& want, const ManifestSample& got) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.path, want.path);
  EXPECT_EQ(got.text, want.text);
  EXPECT_EQ(got.usage, want.usage);
  EXPECT_EQ(got.labels, want.labels) << "want " << want.labels.dump() << "\n got " << got.labels.dump();
  EXPECT_EQ(got.metadata, want.metadata) << "want " << want.metadata.dump() << "\n got " << got.metadata.dump();
}

ManifestSample image(const std::string& key) {
  ManifestSample s;
  s.id = "9f2c0e6d1a7b4c3e8d5f6a7b8c9d0e1f";
  s.path = "/demo-bkt/" + key;
  return s;
}

ManifestSample text_sample(const std::string& text) {
  ManifestSample s;
  s.id = "0123456789abcdef0123456789abcdef";
  s.text = text;  // path does not travel: the line carries content://
  return s;
}

// The message of the ManifestError `f` throws ("" and a failure when none).
template <class F>
std::string manifest_error(F&& f) {
  try {
    f();
  } catch (const ManifestError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ManifestError thrown";
  return "";
}

}  // namespace

// Asserts that `stmt` throws ManifestError whose message contains `needle`.
#define EXPECT_MANIFEST_ERROR(stmt, needle)                                        \
  do {                                                                             \
    std::string msg_ = manifest_error([&] { stmt; });                              \
    EXPECT_NE(msg_.find(needle), std::string::npos) << "message: " << msg_;        \
  } while (0)

// ------------------------------------------------------------------ round trips

TEST(ManifestRoundTrip, ImageClassificationSingle) {
  ManifestSample s = image("pets/raw/0001.jpg");
  s.usage = "TRAIN";
  s.metadata = {{"@modelarts:size", {640, 480, 3}}, {"camera", "x100"}, {"@modelarts:import_origin", 0}};
  s.labels = json::array({{{"name", "rabbit"},
                           {"type", 0},
                           {"property", {{"fur", "grey"}}},
                           {"annotated_by", "human"},
                           {"create_time", 1614676500000}}});
  Files files;
  std::string line;
  ManifestSample back = round_trip(s, 0, files, &line);
  EXPECT_NE(line.find("\"source\":\"obs://demo-bkt/pets/raw/0001.jpg\""), std::string::npos) << line;
  EXPECT_NE(line.find("2021-03-02 09:15:00"), std::string::npos) << line;
  EXPECT_TRUE(files.objects.empty());
  expect_same(s, back);
}

TEST(ManifestRoundTrip, ImageClassificationMulti) {
  ManifestSample s = image("pets/raw/0002.jpg");
  s.usage = "EVAL";
  s.labels = json::array({{{"name", "rabbit"}, {"type", 0}, {"annotated_by", "human"}, {"create_time", 1614676500000}},
                          {{"name", "mammal"},
                           {"type", 0},
                           {"annotated_by", "modelarts/active-learning"},
                           {"score", 0.91},
                           {"create_time", 1614676811000}}});
  Files files;
  ManifestSample back = round_trip(s, 0, files);
  expect_same(s, back);
  ASSERT_EQ(back.labels.size(), 2u);
  EXPECT_DOUBLE_EQ(back.labels[1]["score"].get<double>(), 0.91);
}

TEST(ManifestRoundTrip, DetectionEveryShape) {
  ManifestSample s = image("street/img_17.png");
  s.usage = "TRAIN";
  s.metadata = {{"@modelarts:size", {640, 480, 3}}};
  auto geo = [](const std::string& name, const std::string& shape, json feature, json extra = json::object()) {
    json prop = {{"@modelarts:shape", shape}, {"@modelarts:feature", std::move(feature)}};
    prop.update(extra);
    return json{{"name", name}, {"type", 1}, {"property", prop}, {"annotated_by", "human"}};
  };
  s.labels = json::array({
      geo("car", "bndbox", {{32, 210}, {190, 330}}),
      geo("crosswalk", "polygon", {{200, 400}, {460.5, 395.25}, {470, 470}, {190, 472}},
          {{"@modelarts:hard", "1"}, {"@modelarts:hard_coefficient", "0.6"}}),
      geo("wire", "polyline", {{1, 2}, {3, 4}, {5.5, 6}}),
      geo("lane", "line", {{10, 20}, {30, 40}}),
      geo("edge", "dashed", {{11, 21}, {31, 41}}),
      geo("nail", "point", {{7.5, 8}}),
      geo("sign", "circle", {{520, 120}, {18}}, {{"shape_kind", "round & <red>"}, {"color", "red"}}),
  });
  s.labels[0]["score"] = 0.875;
  Files files;
  std::string line;
  ManifestSample back = round_trip(s, 1, files, &line);
  ASSERT_EQ(files.objects.size(), 1u);
  json j = json::parse(line);
  ASSERT_EQ(j["annotation"].size(), 1u);
  EXPECT_EQ(j["annotation"][0]["type"], "modelarts/object_detection");
  EXPECT_EQ(j["annotation"][0]["annotation-loc"], "obs:/" + files.objects.begin()->first);
  expect_same(s, back);
  // Integers stay integers, decimals stay decimals.
  EXPECT_TRUE(back.labels[0]["property"]["@modelarts:feature"][0][0].is_number_integer());
  EXPECT_TRUE(back.labels[1]["property"]["@modelarts:feature"][1][0].is_number_float());
}

TEST(ManifestRoundTrip, Segmentation) {
  ManifestSample s = image("seg/leaf_03.jpg");
  s.usage = "TRAIN";
  s.metadata = {{"@modelarts:size", {800, 600, 3}}};
  s.labels = json::array(
      {{{"name", "leaf"},
        {"type", 3},
        {"annotated_by", "human"},
        {"property", {{"@modelarts:shape", "polygon"}, {"@modelarts:feature", {{10, 10}, {100, 12}, {90, 200}}}}}},
       {{"name", "stem"},
        {"type", 3},
        {"annotated_by", "human"},
        {"property", {{"@modelarts:shape", "polygon"}, {"@modelarts:feature", {{1, 1}, {2, 1}, {2, 2}, {1, 2}}}}}}});
  Files files;
  std::string line;
  ManifestSample back = round_trip(s, 3, files, &line);
  EXPECT_EQ(json::parse(line)["annotation"][0]["type"], "modelarts/image_segmentation");
  ASSERT_EQ(files.objects.size(), 1u);
  EXPECT_NE(files.objects.begin()->second.find("<segmented>1</segmented>"), std::string::npos);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, TextClassification) {
  ManifestSample s = text_sample("The battery lasts \"two\" full days.\nÇa marche! content://not-a-uri\t日本");
  s.usage = "TRAIN";
  s.labels = json::array({{{"name", "positive"}, {"type", 100}, {"annotated_by", "human"}, {"create_time", 1610359500000}}});
  Files files;
  std::string line;
  ManifestSample back = round_trip(s, 100, files, &line);
  EXPECT_EQ(json::parse(line)["source"], "content://" + s.text);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, NamedEntities) {
  // Offsets count characters: "Zoë" is 3 characters, 4 bytes.
  ManifestSample s = text_sample("Zoë Lovelace was born in London.");
  s.labels = json::array(
      {{{"name", "Person"},
        {"type", 101},
        {"annotated_by", "human"},
        {"create_time", 1610359500000},
        {"property", {{"@modelarts:start_index", 0}, {"@modelarts:end_index", 12}}}},
       {{"name", "City"},
        {"type", 101},
        {"annotated_by", "human"},
        {"property", {{"@modelarts:start_index", 25}, {"@modelarts:end_index", 31}}}}});
  Files files;
  ManifestSample back = round_trip(s, 101, files);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, Triplets) {
  ManifestSample s = text_sample("Rivertown is the capital of Valeland.");
  s.usage = "EVAL";
  s.labels = json::array(
      {{{"id", "E1"},
        {"name", "City"},
        {"type", 103},
        {"annotated_by", "human"},
        {"property", {{"@modelarts:start_index", 0}, {"@modelarts:end_index", 9}}}},
       {{"id", "E2"},
        {"name", "Country"},
        {"type", 103},
        {"annotated_by", "human"},
        {"property", {{"@modelarts:start_index", 28}, {"@modelarts:end_index", 36}}}},
       {{"id", "R1"},
        {"name", "capital_of"},
        {"type", 102},
        {"annotated_by", "human"},
        {"create_time", 1610359500000},
        {"property", {{"@modelarts:from", "E1"}, {"@modelarts:to", "E2"}}}}});
  Files files;
  ManifestSample back = round_trip(s, 102, files);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, AudioClassification) {
  ManifestSample s = image("audio/bell.wav");
  s.usage = "TEST";
  s.labels = json::array({{{"name", "doorbell"}, {"type", 200}, {"annotated_by", "human"}, {"create_time", 1614676500000}},
                          {{"name", "chime"}, {"type", 200}, {"annotated_by", "auto"}, {"score", 0.5}}});
  Files files;
  ManifestSample back = round_trip(s, 200, files);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, SpeechContent) {
  ManifestSample s = image("audio/note.wav");
  s.labels = json::array({{{"type", 201},
                           {"annotated_by", "human"},
                           {"create_time", 1614676500000},
                           {"property", {{"@modelarts:content", "meeting moved to friday"}}}}});
  Files files;
  ManifestSample back = round_trip(s, 201, files);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, SpeechParagraph) {
  ManifestSample s = image("audio/call.wav");
  s.usage = "TRAIN";
  s.labels = json::array({{{"type", 202},
                           {"annotated_by", "human"},
                           {"property",
                            {{"@modelarts:start_time", "00:00:02.250"},
                             {"@modelarts:end_time", "00:00:04.900"},
                             {"@modelarts:source", "agent"},
                             {"@modelarts:content", "good morning"}}}},
                          {{"type", 202},
                           {"annotated_by", "human"},
                           {"property",
                            {{"@modelarts:start_time", "00:00:05.100"},
                             {"@modelarts:end_time", "01:02:06.000"},
                             {"@modelarts:source", "caller"},
                             {"@modelarts:content", "hi there"}}}}});
  Files files;
  ManifestSample back = round_trip(s, 202, files);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, HardExamples) {
  ManifestSample s = image("pets/raw/0003.jpg");
  s.usage = "TRAIN";
  s.metadata = {{"@modelarts:hard", 1.0},
                {"@modelarts:hard_coefficient", 0.7},
                {"@modelarts:hard_reasons", {1, 3, 20}},
                {"@modelarts:size", {10, 10}}};
  s.labels = json::array({{{"name", "cat"},
                           {"type", 0},
                           {"annotated_by", "human"},
                           {"property",
                            {{"@modelarts:hard", "1"},
                             {"@modelarts:hard_coefficient", "0.4"},
                             {"@modelarts:hard_reasons", "3-20-21"}}}}});
  Files files;
  std::string line;
  ManifestSample back = round_trip(s, 0, files, &line);
  json j = json::parse(line);
  EXPECT_EQ(j["hard"], "true");
  EXPECT_EQ(j["hard-coefficient"], 0.7);
  EXPECT_EQ(j["hard-reasons"], "1-3-20");
  EXPECT_FALSE(j["property"].contains("@modelarts:hard_reasons")) << line;
  expect_same(s, back);
  EXPECT_TRUE(back.metadata["@modelarts:hard"].is_number_float());
}

TEST(ManifestRoundTrip, NotHardAndUnlabeled) {
  ManifestSample s = image("pets/raw/0004.jpg");
  s.usage = "INFERENCE";
  s.metadata = {{"@modelarts:hard", 0.0}};
  Files files;
  std::string line;
  ManifestSample back = round_trip(s, 0, files, &line);
  json j = json::parse(line);
  EXPECT_FALSE(j.contains("annotation"));
  EXPECT_EQ(j["hard"], "false");
  expect_same(s, back);
  EXPECT_TRUE(back.labels.is_array());
  EXPECT_TRUE(back.labels.empty());
}

TEST(ManifestRoundTrip, VideoLabelsComeBackAsVideoLabels) {
  // Type 600 labels travel as image_classification; a video dataset reads them as 600.
  ManifestSample s = image("video/frames/clip7_t3.200000.jpg");
  s.metadata = {{"@modelarts:parent_source", "s3://demo-bkt/video/clip7.mp4"}, {"@modelarts:time_in_video", 3.2}};
  s.labels = json::array({{{"name", "goal"}, {"type", 600}, {"annotated_by", "human"}}});
  Files files;
  ManifestSample back = round_trip(s, 600, files);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, FreeFormatMixesKinds) {
  // Non-geometry labels come first, then the one VOC entry: the writer's order.
  ManifestSample s = image("free/x.png");
  s.metadata = {{"@modelarts:size", {100, 50, 1}}};
  s.labels = json::array(
      {{{"name", "outdoor"}, {"type", 0}, {"annotated_by", "human"}},
       {{"name", "bark"}, {"type", 200}, {"annotated_by", "human"}},
       {{"name", "tree"},
        {"type", 1},
        {"annotated_by", "human"},
        {"property", {{"@modelarts:shape", "bndbox"}, {"@modelarts:feature", {{1, 2}, {30, 40}}}}}}});
  Files files;
  ManifestSample back = round_trip(s, 900, files);
  expect_same(s, back);
}

TEST(ManifestRoundTrip, FreeFormatBoxesAndSegmentsGetOneVocEach) {
  ManifestSample s = image("free/y.png");
  s.metadata = {{"@modelarts:size", {100, 50, 3}}};
  auto geo = [](const char* name, int type, const char* shape, json feature) {
    return json{{"name", name}, {"type", type}, {"annotated_by", "human"},
                {"property", {{"@modelarts:shape", shape}, {"@modelarts:feature", feature}}}};
  };
  s.labels = json::array({geo("car", 1, "bndbox", {{1, 2}, {30, 40}}), geo("road", 3, "polygon", {{0, 0}, {9, 0}, {9, 9}})});
  Files files;
  std::string line;
  ManifestSample back = round_trip(s, 900, files, &line);
  expect_same(s, back);
  json j = json::parse(line);
  ASSERT_EQ(j["annotation"].size(), 2u);
  EXPECT_EQ(j["annotation"][0]["type"], "modelarts/object_detection");
  EXPECT_EQ(j["annotation"][1]["type"], "modelarts/image_segmentation");
  EXPECT_EQ(files.objects.size(), 2u);
}

// What the format (or the writer) cannot carry; pinned so a change is noticed.
TEST(ManifestRoundTrip, KnownLosses) {
  Files files;
  {  // label ids outside triplets, sub-second creation times, text paths
    ManifestSample s = text_sample("hello");
    s.path = "/demo-bkt/t/1.txt";
    s.labels = json::array({{{"id", "L1"}, {"name", "greeting"}, {"type", 100}, {"create_time", 1614676500123}}});
    ManifestSample back = round_trip(s, 100, files);
    EXPECT_EQ(back.path, "");
    EXPECT_EQ(back.text, "hello");
    ASSERT_EQ(back.labels.size(), 1u);
    EXPECT_FALSE(back.labels[0].contains("id"));
    EXPECT_EQ(back.labels[0]["create_time"], 1614676500000);
    EXPECT_EQ(back.labels[0]["annotated_by"], "human");  // the writer's default
  }
  {  // speech labels keep their name (the format makes it optional; we write it)
    ManifestSample s = image("audio/a.wav");
    s.labels = json::array({{{"name", "speech"}, {"type", 201}, {"property", {{"@modelarts:content", "hi"}}}}});
    ManifestSample back = round_trip(s, 201, files);
    ASSERT_EQ(back.labels.size(), 1u);
    EXPECT_EQ(back.labels[0]["name"], "speech");
    EXPECT_EQ(back.labels[0]["property"]["@modelarts:content"], "hi");
  }
  {  // geometry labels: id, annotated_by, create_time, label-level reasons, value types
    ManifestSample s = image("street/b.png");
    s.metadata = {{"@modelarts:size", {64, 48}}};
    s.labels = json::array({{{"id", "G1"},
                             {"name", "car"},
                             {"type", 1},
                             {"annotated_by", "auto"},
                             {"create_time", 1614676500000},
                             {"property",
                              {{"@modelarts:shape", "bndbox"},
                               {"@modelarts:feature", {{1, 2}, {3, 4}}},
                               {"@modelarts:hard", "true"},
                               {"@modelarts:hard_coefficient", 0.5},
                               {"@modelarts:hard_reasons", "1-2"},
                               {"doors", 4}}}}});
    ManifestSample back = round_trip(s, 1, files);
    ASSERT_EQ(back.labels.size(), 1u);
    const json& l = back.labels[0];
    EXPECT_FALSE(l.contains("id"));
    EXPECT_FALSE(l.contains("create_time"));
    EXPECT_EQ(l["annotated_by"], "human");
    EXPECT_EQ(l["property"]["@modelarts:hard"], "1");
    EXPECT_EQ(l["property"]["@modelarts:hard_coefficient"], "0.5");
    EXPECT_FALSE(l["property"].contains("@modelarts:hard_reasons"));
    EXPECT_EQ(l["property"]["doors"], "4");
    EXPECT_EQ(l["property"]["@modelarts:feature"], json({{1, 2}, {3, 4}}));
    EXPECT_EQ(back.metadata["@modelarts:size"], json({64, 48}));  // from the line's property, not the VOC's [64,48,3]
  }
}

// ------------------------------------------------------------------ reading foreign lines

TEST(ManifestRead, SpecClassificationExample) {
  std::string line =
      R"({"source":"s3://demo-bkt/pets/raw/0001.jpg","usage":"train","id":"9f2c","hard":"false","annotation":[)"
      R"({"type":"modelarts/image_classification","name":"rabbit","property":{"fur":"grey"},"annotated-by":"human","creation-time":"2021-03-02 09:15:00"},)"
      R"({"type":"image_classification","name":"mammal","annotated_by":"modelarts/active-learning","confidence":0.91,"creation_time":"2021-03-02 09:20:11"}]})";
  ManifestSample s = parse_manifest_line(line, 0, kNoFiles);
  EXPECT_EQ(s.path, "/demo-bkt/pets/raw/0001.jpg");
  EXPECT_EQ(s.usage, "TRAIN");
  EXPECT_EQ(s.id, "9f2c");
  EXPECT_EQ(s.metadata, json({{"@modelarts:hard", 0.0}}));
  json want = json::array({{{"name", "rabbit"},
                            {"type", 0},
                            {"property", {{"fur", "grey"}}},
                            {"annotated_by", "human"},
                            {"create_time", 1614676500000}},
                           {{"name", "mammal"},
                            {"type", 0},
                            {"annotated_by", "modelarts/active-learning"},
                            {"score", 0.91},
                            {"create_time", 1614676811000}}});
  EXPECT_EQ(s.labels, want) << s.labels.dump();
}

TEST(ManifestRead, SourceForms) {
  for (const char* src : {"obs://demo-bkt/a/b.jpg", "s3://demo-bkt/a/b.jpg", "S3://demo-bkt/a/b.jpg",
                          "s3a://demo-bkt/a/b.jpg", "OBS://demo-bkt/a/b.jpg", "/demo-bkt/a/b.jpg"}) {
    json line = {{"source", src}};
    EXPECT_EQ(parse_manifest_line(line.dump(), 0, kNoFiles).path, "/demo-bkt/a/b.jpg") << src;
  }
  // Text datasets may point at a file instead of inlining the text.
  ManifestSample t = parse_manifest_line(R"({"source":"obs://demo-bkt/t/1.txt"})", 100, kNoFiles);
  EXPECT_EQ(t.path, "/demo-bkt/t/1.txt");
  EXPECT_EQ(t.text, "");
  EXPECT_EQ(parse_manifest_line(R"({"source":"content://"})", 101, kNoFiles).text, "");
}

TEST(ManifestRead, SoundClassificationAlias) {
  ManifestSample s = parse_manifest_line(
      R"({"source":"s3://demo-bkt/audio/bell.wav","annotation":[{"type":"modelarts/sound_classification","name":"doorbell"}]})", 200,
      kNoFiles);
  EXPECT_EQ(s.labels, json::array({{{"name", "doorbell"}, {"type", 200}}}));
}

TEST(ManifestRead, UnknownLineKeysBecomeMetadata) {
  ManifestSample s = parse_manifest_line(
      R"({"source":"/demo-bkt/a.jpg","sample-type":0,"source-type":"image","inference-loc":"obs://demo-bkt/inf/a.json",)"
      R"("property":{"@modelarts:parent_duration":12.5,"k":"v"},"hard_coefficient":"0.25","hard_reasons":"4"})",
      0, kNoFiles);
  json want = {{"@modelarts:parent_duration", 12.5},
               {"k", "v"},
               {"source-type", "image"},
               {"inference-loc", "obs://demo-bkt/inf/a.json"},
               {"@modelarts:hard_coefficient", 0.25},
               {"@modelarts:hard_reasons", {4}}};
  EXPECT_EQ(s.metadata, want) << s.metadata.dump();
}

TEST(ManifestRead, AnnotationLevelHardFieldsGoToProperty) {
  ManifestSample s = parse_manifest_line(
      R"({"source":"/demo-bkt/a.jpg","annotation":[{"type":"modelarts/image_classification","name":"cat","hard":true,"hard-coefficient":0.3}]})",
      0, kNoFiles);
  ASSERT_EQ(s.labels.size(), 1u);
  EXPECT_EQ(s.labels[0]["property"], json({{"@modelarts:hard", "1"}, {"@modelarts:hard_coefficient", "0.3"}}));
}

const char* kSpecVoc = R"(<?xml version="1.0" encoding="UTF-8"?>
<annotation>
  <folder>street</folder>
  <filename>img_17.png</filename>
  <source><database>Unknown</database></source>
  <size><width>640</width><height>480</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object>
    <name>car</name><pose>Unspecified</pose><truncated>0</truncated><occluded>1</occluded><difficult>0</difficult>
    <bndbox><xmin>32</xmin><ymin>210</ymin><xmax>190</xmax><ymax>330</ymax></bndbox>
  </object>
  <object>
    <name>crosswalk</name><pose>Unspecified</pose><truncated>0</truncated><occluded>0</occluded><difficult>1</difficult>
    <hard-coefficient>0.6</hard-coefficient>
    <polygon><x1>200</x1><y1>400</y1><x2>460</x2><y2>395</y2><x3>470</x3><y3>470</y3><x4>190</x4><y4>472</y4></polygon>
  </object>
  <object>
    <name> sign </name><pose>Unspecified</pose><truncated>0</truncated><occluded>0</occluded><difficult>0</difficult>
    <circle><cx>520</cx><cy>120</cy><r>18</r></circle>
    <properties><property><key>shape_kind</key><value>round</value></property></properties>
  </object>
  <object>
    <name>nail</name><point><x1>3.5</x1><y1>4</y1></point><confidence>0.25</confidence>
  </object>
</annotation>
)";

TEST(ManifestRead, VocSpecExample) {
  VocAnnotation v = parse_voc(kSpecVoc, false);
  EXPECT_EQ(v.size, json({640, 480, 3}));
  json want = json::array(
      {{{"name", "car"},
        {"type", 1},
        {"property", {{"@modelarts:shape", "bndbox"}, {"@modelarts:feature", {{32, 210}, {190, 330}}}}}},
       {{"name", "crosswalk"},
        {"type", 1},
        {"property",
         {{"@modelarts:shape", "polygon"},
          {"@modelarts:feature", {{200, 400}, {460, 395}, {470, 470}, {190, 472}}},
          {"@modelarts:hard", "1"},
          {"@modelarts:hard_coefficient", "0.6"}}}},
       {{"name", "sign"},
        {"type", 1},
        {"property", {{"@modelarts:shape", "circle"}, {"@modelarts:feature", {{520, 120}, {18}}}, {"shape_kind", "round"}}}},
       {{"name", "nail"},
        {"type", 1},
        {"score", 0.25},
        {"property", {{"@modelarts:shape", "point"}, {"@modelarts:feature", {{3.5, 4}}}}}}});
  EXPECT_EQ(v.labels, want) << v.labels.dump(1);
  // Segmented: the same geometry as type 3; mask elements are accepted.
  std::string seg = kSpecVoc;
  seg.replace(seg.find("<segmented>0</segmented>"), 24,
              "<segmented>1</segmented><mask_source>obs://demo-bkt/m.png</mask_source>");
  seg.replace(seg.find("<difficult>0</difficult>"), 24, "<difficult>0</difficult><mask_color>128,64,0</mask_color>");
  VocAnnotation s = parse_voc(seg, true);
  ASSERT_EQ(s.labels.size(), 4u);
  for (auto& l : s.labels) EXPECT_EQ(l["type"], 3);
  EXPECT_EQ(s.labels[0]["property"], want[0]["property"]);
}

TEST(ManifestRead, VocSizeAbsentOrZero) {
  EXPECT_TRUE(parse_voc("<annotation/>", false).size.is_null());
  EXPECT_TRUE(parse_voc("<annotation><size><width>0</width><height>0</height></size></annotation>", false).size.is_null());
  EXPECT_EQ(parse_voc("<annotation><size><width>7</width><height>5</height></size></annotation>", false).size, json({7, 5, 3}));
  EXPECT_TRUE(parse_voc("<annotation/>", false).labels.empty());
  // A byte-order mark and an XML declaration are fine.
  EXPECT_EQ(parse_voc("\xEF\xBB\xBF<?xml version=\"1.0\"?><annotation><object><name>a</name><point><x>1</x><y>2</y></point>"
                      "</object></annotation>",
                      false)
                .labels.size(),
            1u);
}

TEST(ManifestRead, DetectionTakesVocSizeWhenTheLineHasNone) {
  Files files;
  files.objects["/demo-bkt/street/img_17.xml"] = kSpecVoc;
  ManifestSample s = parse_manifest_line(
      R"({"source":"s3://demo-bkt/street/img_17.png","usage":"TRAIN","hard":"true","hard-coefficient":0.7,"annotation":[)"
      R"({"type":"modelarts/object_detection","annotation-loc":"s3://demo-bkt/street/img_17.xml","annotation-format":"PASCAL VOC",)"
      R"("annotated-by":"human","creation-time":"2021-05-10 14:02:33"}]})",
      1, files.reader());
  EXPECT_EQ(s.metadata,
            json({{"@modelarts:size", {640, 480, 3}}, {"@modelarts:hard", 1.0}, {"@modelarts:hard_coefficient", 0.7}}));
  ASSERT_EQ(s.labels.size(), 4u);
  for (auto& l : s.labels) {
    EXPECT_EQ(l["annotated_by"], "human");
    EXPECT_EQ(l["create_time"], 1620655353000);
  }
  EXPECT_EQ(s.labels[2]["name"], "sign");
}

TEST(ManifestRead, InlineDetectionShapes) {
  ManifestSample s = parse_manifest_line(
      R"({"source":"/demo-bkt/a.jpg","annotation":[{"type":"modelarts/object_detection","name":"car",)"
      R"("property":{"@modelarts:shape":"bndbox","@modelarts:feature":[[1,2],[3,4]]}}]})",
      1, kNoFiles);
  EXPECT_EQ(s.labels, json::array({{{"name", "car"},
                                    {"type", 1},
                                    {"property", {{"@modelarts:shape", "bndbox"}, {"@modelarts:feature", {{1, 2}, {3, 4}}}}}}}));
}

// ------------------------------------------------------------------ rejected lines

TEST(ManifestErrors, MalformedLines) {
  EXPECT_MANIFEST_ERROR(parse_manifest_line("", 0, kNoFiles), "line: not valid JSON");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"/b-k/x.jpg")", 0, kNoFiles), "line: not valid JSON");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"/bkt/x.jpg"} {})", 0, kNoFiles), "line: not valid JSON");
  EXPECT_MANIFEST_ERROR(parse_manifest_line("[1,2]", 0, kNoFiles), "line: must be a JSON object");
  EXPECT_MANIFEST_ERROR(parse_manifest_line("\"obs://bkt/x\"", 0, kNoFiles), "line: must be a JSON object");
}

TEST(ManifestErrors, MessagesAreValidUtf8) {
  // Invalid bytes and control characters in a line show up escaped, never raw.
  std::string msg = manifest_error([] { parse_manifest_line("{\"source\":\"/b\xFF\x01\"}", 0, kNoFiles); });
  EXPECT_NE(msg.find("line: not valid JSON"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\xFF'), std::string::npos) << msg;
  EXPECT_NO_THROW(json(msg).dump());
  msg = manifest_error([] {
    parse_voc("<annotation><object><name>a</name><bndbox><xmin>\xC3\xA9\x01" + std::string(100, 'z') +
                  "</xmin></bndbox></object></annotation>",
              false);
  });
  EXPECT_NE(msg.find("xmin: '\xC3\xA9\\x01zzz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("zzz...' is not a number"), std::string::npos) << msg;
  EXPECT_NO_THROW(json(msg).dump());
}

TEST(ManifestErrors, LineLengthLimit) {
  std::string head = R"({"source":"/demo-bkt/a.jpg","k":")", tail = "\"}";
  std::string at_limit = head + std::string(kMaxManifestLine - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(at_limit.size(), kMaxManifestLine);
  EXPECT_EQ(parse_manifest_line(at_limit, 0, kNoFiles).metadata["k"].get<std::string>().size(),
            kMaxManifestLine - head.size() - tail.size());
  std::string over = head + std::string(kMaxManifestLine - head.size() - tail.size() + 1, 'a') + tail;
  EXPECT_MANIFEST_ERROR(parse_manifest_line(over, 0, kNoFiles), "exceeds the limit of 1048576");
}

TEST(ManifestErrors, Source) {
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"usage":"TRAIN"})", 0, kNoFiles), "source: is required");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":null})", 0, kNoFiles), "source: is required");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":42})", 0, kNoFiles), "source: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"http://bkt/x.jpg"})", 0, kNoFiles), "source: unsupported URI scheme");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"bkt/x.jpg"})", 0, kNoFiles), "source: 'bkt/x.jpg' is not an object URI");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":""})", 0, kNoFiles), "source: '' is not an object URI");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"obs://bkt"})", 0, kNoFiles), "source: 'obs://bkt' names no object");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"obs://bkt/dir/"})", 0, kNoFiles),
                        "source: 'obs://bkt/dir/' names a folder, not an object");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"obs://Bad_Bucket/x"})", 0, kNoFiles), "not a valid bucket name");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"obs://bkt/a/../x"})", 0, kNoFiles), "not a valid object key");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"content://hello"})", 0, kNoFiles),
                        "source: content:// text is only for text datasets");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(R"({"source":"content://hello"})", 200, kNoFiles), "only for text datasets");
}

TEST(ManifestErrors, LineFieldTypes) {
  auto line = [](const std::string& extra) { return R"({"source":"/demo-bkt/a.jpg",)" + extra + "}"; };
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("id":7)"), 0, kNoFiles), "id: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("usage":1)"), 0, kNoFiles), "usage: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("usage":"VALIDATION")"), 0, kNoFiles),
                        "usage: 'VALIDATION' is not one of TRAIN, EVAL, TEST, INFERENCE");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("sample-type":"0")"), 0, kNoFiles), "sample-type: must be one of 0 (image)");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("sample-type":3)"), 0, kNoFiles), "sample-type: must be one of 0 (image)");
  EXPECT_EQ(parse_manifest_line(line(R"("sample-type":6)"), 900, kNoFiles).sample_type, 6);
  EXPECT_EQ(parse_manifest_line(line("\"usage\":\"TRAIN\""), 900, kNoFiles).sample_type, -1);
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("property":[1])"), 0, kNoFiles), "property: must be an object");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("hard":"maybe")"), 0, kNoFiles), "hard: must be true or false");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("hard":2)"), 0, kNoFiles), "hard: must be true or false");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("hard-coefficient":1.5)"), 0, kNoFiles), "hard-coefficient: must be in [0, 1]");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("hard_coefficient":"high")"), 0, kNoFiles), "hard-coefficient: must be a number");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("hard-reasons":"1-x")"), 0, kNoFiles),
                        "hard-reasons: '1-x' is not reason IDs joined by '-'");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("hard-reasons":"1--2")"), 0, kNoFiles), "hard-reasons:");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("hard-reasons":[1,"2"])"), 0, kNoFiles), "hard-reasons: must hold");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"("annotation":{"type":"x"})"), 0, kNoFiles), "annotation: must be an array");
}

TEST(ManifestErrors, AnnotationFields) {
  auto ann = [](const std::string& a, const std::string& src = "/demo-bkt/a.jpg") {
    return R"({"source":")" + src + R"(","annotation":[{"type":"modelarts/image_classification","name":"ok"},)" + a + "]}";
  };
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"("cat")"), 0, kNoFiles), "annotation[1]: must be an object");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"name":"cat"})"), 0, kNoFiles), "annotation[1].type: is required");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":3,"name":"cat"})"), 0, kNoFiles), "annotation[1].type: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/video_tracking","name":"cat"})"), 0, kNoFiles),
                        "annotation[1].type: unknown annotation type 'modelarts/video_tracking'");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification"})"), 0, kNoFiles),
                        "annotation[1].name: is required");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":""})"), 0, kNoFiles),
                        "annotation[1].name: is required");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":["cat"]})"), 0, kNoFiles),
                        "annotation[1].name: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":"c","id":1})"), 0, kNoFiles),
                        "annotation[1].id: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":"c","property":"x"})"), 0,
                                            kNoFiles),
                        "annotation[1].property: must be an object");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":"c","confidence":"0.5"})"), 0,
                                            kNoFiles),
                        "annotation[1].confidence: must be a number");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":"c","confidence":1.5})"), 0,
                                            kNoFiles),
                        "annotation[1].confidence: must be in [0, 1]");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":"c","annotated-by":1})"), 0,
                                            kNoFiles),
                        "annotation[1].annotated-by: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":"c","creation-time":"yesterday"})"),
                                            0, kNoFiles),
                        "annotation[1].creation-time: 'yesterday' is not yyyy-MM-dd HH:mm:ss");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":"c","creation_time":"2021-02-30 00:00:00"})"),
                                            0, kNoFiles),
                        "annotation[1].creation-time: '2021-02-30 00:00:00' is not a valid");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(ann(R"({"type":"modelarts/image_classification","name":"c","hard":"sometimes"})"), 0,
                                            kNoFiles),
                        "annotation[1].hard: must be true or false");
}

TEST(ManifestErrors, TextAnnotations) {
  auto line = [](const std::string& text, const std::string& anns) {
    return R"({"source":"content://)" + text + R"(","annotation":[)" + anns + "]}";
  };
  const std::string ent = R"({"type":"modelarts/text_entity","name":"P","id":"E1","property":)";
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line("Ada", ent + R"({"@modelarts:end_index":3}})"), 101, kNoFiles),
                        "annotation[0].property[@modelarts:start_index]: is required");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line("Ada", ent + R"({"@modelarts:start_index":"0","@modelarts:end_index":3}})"), 101,
                                            kNoFiles),
                        "annotation[0].property[@modelarts:start_index]: must be a non-negative integer");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line("Ada", ent + R"({"@modelarts:start_index":2,"@modelarts:end_index":2}})"), 101,
                                            kNoFiles),
                        "annotation[0].property[@modelarts:end_index]: must be greater than");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line("Zoë", ent + R"({"@modelarts:start_index":0,"@modelarts:end_index":4}})"), 101,
                                            kNoFiles),
                        "annotation[0].property[@modelarts:end_index]: 4 lies beyond the text of 3 characters");
  const std::string ok_ent = ent + R"({"@modelarts:start_index":0,"@modelarts:end_index":3}})";
  EXPECT_MANIFEST_ERROR(
      parse_manifest_line(line("Ada", ok_ent + R"(,{"type":"modelarts/text_triplet","name":"r","property":{"@modelarts:from":"E1","@modelarts:to":"E1"}})"),
                          102, kNoFiles),
      "annotation[1].id: is required for a text_triplet");
  EXPECT_MANIFEST_ERROR(
      parse_manifest_line(line("Ada", ok_ent + R"(,{"type":"modelarts/text_triplet","id":"R1","name":"r","property":{"@modelarts:to":"E1"}})"),
                          102, kNoFiles),
      "annotation[1].property[@modelarts:from]: is required");
  EXPECT_MANIFEST_ERROR(
      parse_manifest_line(line("Ada", ok_ent + R"(,{"type":"modelarts/text_triplet","id":"R1","name":"r","property":{"@modelarts:from":1,"@modelarts:to":"E1"}})"),
                          102, kNoFiles),
      "annotation[1].property[@modelarts:from]: must be a string");
  EXPECT_MANIFEST_ERROR(
      parse_manifest_line(line("Ada", ok_ent + R"(,{"type":"modelarts/text_triplet","id":"R1","name":"r","property":{"@modelarts:from":"E1","@modelarts:to":"E9"}})"),
                          102, kNoFiles),
      "annotation[1].property[@modelarts:to]: 'E9' names no text_entity of this line");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line("Ada", R"({"type":"modelarts/text_classification"})"), 100, kNoFiles),
                        "annotation[0].name: is required");
}

TEST(ManifestErrors, SpeechAnnotations) {
  auto line = [](const std::string& prop, const char* kind = "audio_segmentation") {
    return R"({"source":"/demo-bkt/a.wav","annotation":[{"type":"modelarts/)" + std::string(kind) + R"(","property":)" + prop +
           "}]}";
  };
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"({"@modelarts:end_time":"00:00:01.000"})"), 202, kNoFiles),
                        "annotation[0].property[@modelarts:start_time]: is required");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"({"@modelarts:start_time":"1.5","@modelarts:end_time":"00:00:01.000"})"), 202,
                                            kNoFiles),
                        "annotation[0].property[@modelarts:start_time]: '1.5' is not hh:mm:ss.SSS");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"({"@modelarts:start_time":"00:00:01.5","@modelarts:end_time":"00:00:02.000"})"),
                                            202, kNoFiles),
                        "'00:00:01.5' is not hh:mm:ss.SSS");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"({"@modelarts:start_time":"00:00:01.000","@modelarts:end_time":"00:00:00.500"})"),
                                            202, kNoFiles),
                        "annotation[0].property[@modelarts:end_time]: must be after");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"({"@modelarts:start_time":"00:00:00.000","@modelarts:end_time":"00:00:01.000","@modelarts:source":5})"),
                                            202, kNoFiles),
                        "annotation[0].property[@modelarts:source]: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"({"@modelarts:content":["hi"]})", "audio_content"), 201, kNoFiles),
                        "annotation[0].property[@modelarts:content]: must be a string");
}

TEST(ManifestErrors, DetectionEntries) {
  Files files;
  files.objects["/demo-bkt/bad.xml"] = "<annotation><object><name>car</name><bndbox><xmin>1</xmin></bndbox></object></annotation>";
  files.objects["/demo-bkt/good.xml"] = kSpecVoc;
  auto line = [](const std::string& a) {
    return R"({"source":"/demo-bkt/a.jpg","annotation":[{"type":"modelarts/object_detection")" + a + "}]}";
  };
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(""), 1, files.reader()), "annotation[0].annotation-loc: is required");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"(,"annotation-loc":"obs://demo-bkt/none.xml")"), 1, files.reader()),
                        "annotation[0].annotation-loc: /demo-bkt/none.xml does not exist");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"(,"annotation-loc":17)"), 1, files.reader()),
                        "annotation[0].annotation-loc: must be a string");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"(,"annotation-loc":"ftp://demo-bkt/good.xml")"), 1, files.reader()),
                        "annotation[0].annotation-loc: unsupported URI scheme");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"(,"annotation-loc":"obs://demo-bkt/good.xml","annotation-format":"COCO")"), 1,
                                            files.reader()),
                        "annotation[0].annotation-format: unknown annotation format 'COCO'");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"(,"annotation_loc":"s3://demo-bkt/bad.xml")"), 1, files.reader()),
                        "annotation[0].annotation-loc (/demo-bkt/bad.xml): VOC object[0].bndbox.ymin: is missing");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"(,"name":"car","property":{"@modelarts:shape":"ellipse","@modelarts:feature":[[1,2]]})"),
                                            1, files.reader()),
                        "unknown shape kind 'ellipse'");
  EXPECT_MANIFEST_ERROR(parse_manifest_line(line(R"(,"name":"car","property":{"@modelarts:shape":"bndbox","@modelarts:feature":[[1,"2"],[3,4]]})"),
                                            1, files.reader()),
                        "annotation[0].property[@modelarts:feature]: @modelarts:feature[0] holds a non-number");
  // The same line with a good file and the underscore spellings reads fine.
  ManifestSample ok = parse_manifest_line(
      line(R"(,"annotation_loc":"s3://demo-bkt/good.xml","annotation_format":"PASCAL VOC")"), 1, files.reader());
  EXPECT_EQ(ok.labels.size(), 4u);
}

TEST(ManifestErrors, VocDocuments) {
  auto obj = [](const std::string& body) { return "<annotation><object><name>car</name>" + body + "</object></annotation>"; };
  EXPECT_MANIFEST_ERROR(parse_voc("", false), "VOC: not well-formed XML");
  EXPECT_MANIFEST_ERROR(parse_voc("<annotation><object></annotation>", false), "VOC: not well-formed XML");
  EXPECT_MANIFEST_ERROR(parse_voc("not xml at all", false), "VOC: not well-formed XML");
  EXPECT_MANIFEST_ERROR(parse_voc("<annotation><object><name>\xC3(</name></object></annotation>", false),
                        "VOC: not valid UTF-8 at byte 26");
  EXPECT_MANIFEST_ERROR(parse_voc("<annotation>\xED\xA0\x80</annotation>", false), "VOC: not valid UTF-8 at byte 12");
  EXPECT_MANIFEST_ERROR(parse_voc("<voc><object/></voc>", false), "VOC: the root element must be <annotation>, not <voc>");
  EXPECT_MANIFEST_ERROR(parse_voc("<annotation><object><bndbox/></object></annotation>", false), "VOC object[0].name: is missing");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax></bndbox>"), false),
                        "VOC object[0].bndbox.ymax: is missing");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<bndbox><xmin>one</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>"), false),
                        "VOC object[0].bndbox.xmin: 'one' is not a number");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3px</xmax><ymax>4</ymax></bndbox>"), false),
                        "VOC object[0].bndbox.xmax: '3px' is not a number");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>nan</xmax><ymax>4</ymax></bndbox>"), false),
                        "VOC object[0].bndbox.xmax: 'nan' is not a number");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<bndbox><xmin></xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>"), false),
                        "VOC object[0].bndbox.xmin: is empty");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<bndbox><xmin>5</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>"), false),
                        "VOC object[0].bndbox: invalid bndbox: xmin must be < xmax");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<bndbox><xmin>-1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>"), false),
                        "VOC object[0].bndbox.xmin: must be >= 0");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<ellipse><cx>1</cx><cy>1</cy></ellipse>"), false),
                        "VOC object[0]: unknown shape kind <ellipse>");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<pose>Unspecified</pose>"), false), "VOC object[0]: has no shape");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<point><x>1</x><y>1</y></point><circle><cx>5</cx><cy>5</cy><r>1</r></circle>"), false),
                        "VOC object[0]: has more than one shape (<point> and <circle>)");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<circle><cx>5</cx><cy>5</cy><r>0</r></circle>"), false),
                        "VOC object[0].circle: a circle needs r > 0");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<polygon><x1>1</x1><y1>1</y1><x2>2</x2><y2>2</y2></polygon>"), false),
                        "VOC object[0].polygon: a polygon needs at least 3 points, not 2");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<polygon><x1>1</x1><y1>1</y1><x2>2</x2><y2>2</y2><x3>3</x3></polygon>"), false),
                        "VOC object[0].polygon.y3: is missing");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<polygon><x1>1</x1><y1>1</y1><x3>2</x3><y3>2</y3><x4>3</x4><y4>3</y4></polygon>"), false),
                        "VOC object[0].polygon.x2: is missing");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<polyline><x1>1</x1><y1>1</y1><x1>2</x1></polyline>"), false),
                        "VOC object[0].polyline.x1: appears twice");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<line><x1>1</x1><y1>1</y1><x2>2</x2><y2>2</y2><x3>3</x3><y3>3</y3></line>"), false),
                        "VOC object[0].line: a line needs 2 points, not 3");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<point></point>"), false), "VOC object[0].point.x: is missing");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<difficult>maybe</difficult><point><x>1</x><y>1</y></point>"), false),
                        "VOC object[0].difficult: 'maybe' is not 0 or 1");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<difficult-coefficient>2</difficult-coefficient><point><x>1</x><y>1</y></point>"), false),
                        "VOC object[0].difficult-coefficient: must be in [0, 1]");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<confidence>high</confidence><point><x>1</x><y>1</y></point>"), false),
                        "VOC object[0].confidence: 'high' is not a number");
  EXPECT_MANIFEST_ERROR(parse_voc(obj("<point><x>1</x><y>1</y></point><properties><property><value>v</value></property></properties>"),
                                  false),
                        "VOC object[0].properties.property[0].key: is missing");
  EXPECT_MANIFEST_ERROR(parse_voc("<annotation><size><width>wide</width><height>4</height></size></annotation>", false),
                        "VOC size.width: 'wide' is not a number");
}
