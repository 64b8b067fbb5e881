// read_plain_line against the generic path it stands in for: for every line
// it accepts, the row texts must equal what parse_manifest_line,
// validated_labels and NewSample::derive make of the same line; every other
// line must be declined, so that the generic path reads (and words the
// errors of) it.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <cstring>
#include <random>
#include <regex>
#include <string>

#include "common/clock.h"
#include "data/annotation_checks.h"
#include "data/line_reader.h"
#include "data/manifest.h"
#include "data/sample_writer.h"

using atelier::json;
using namespace atelier::data;

namespace {

const int64_t kNow = 1700000000123;

std::string voc(const std::string& objects, const std::string& size = "<size><width>640</width><height>480</height><depth>3</depth></size>") {
  return "<annotation><folder>f</folder><filename>a.jpg</filename>" + size + "<segmented>0</segmented>" + objects +
         "</annotation>";
}

std::string box(const std::string& name, const std::string& xmin, const std::string& ymin, const std::string& xmax,
                const std::string& ymax, const std::string& extra = "") {
  return "<object><name>" + name + "</name><pose>Unspecified</pose><truncated>0</truncated><occluded>0</occluded>" + extra +
         "<bndbox><xmin>" + xmin + "</xmin><ymin>" + ymin + "</ymin><xmax>" + xmax + "</xmax><ymax>" + ymax +
         "</ymax></bndbox></object>";
}

struct Fixture {
  std::map<std::string, std::string> files;
  std::function<std::optional<std::string>(const std::string&)> read = [this](const std::string& p) -> std::optional<std::string> {
    auto it = files.find(p);
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
};

// Label ids are random, and a label without creation-time takes the clock:
// a time within a few seconds after `now` reads as `now`.
std::string normalized(const std::string& s, int64_t now) {
  std::string out = std::regex_replace(s, std::regex(R"("id":"[0-9A-Za-z]{19}")"), R"("id":"*")");
  std::regex time(R"("create_time":([0-9]+))");
  std::string result;
  auto last = out.cbegin();
  for (std::sregex_iterator it(out.begin(), out.end(), time), end; it != end; ++it) {
    int64_t t = std::stoll((*it)[1]);
    result.append(last, (*it)[0].first);
    result += "\"create_time\":" + std::to_string(t >= now && t < now + 5000 ? now : t);
    last = (*it)[0].second;
  }
  result.append(last, out.cend());
  return result;
}

struct Generic {
  std::string path, usage, labels_text, metadata_text;
  std::vector<SampleWriter::LabelRow> rows;
};

Generic generic(const std::string& line, int type, Fixture& f) {
  ManifestSample m = parse_manifest_line(line, type, f.read);
  SampleWriter::NewSample s;
  s.labels = validated_labels(type, m.labels, SampleFacts{type, 0, m.metadata}, "human");
  s.metadata = m.metadata;
  s.derive();
  return {m.path, m.usage, s.labels_text, s.metadata_text, s.label_rows};
}

void expect_same(const std::string& line, int type, Fixture& f) {
  SCOPED_TRACE(line);
  int64_t now = atelier::clock::now_ms();
  auto p = read_plain_line(line, type, now, f.read);
  ASSERT_TRUE(p.has_value()) << "declined";
  Generic g = generic(line, type, f);
  EXPECT_EQ(p->path, g.path);
  EXPECT_EQ(p->usage, g.usage);
  EXPECT_EQ(normalized(p->labels_text, now), normalized(g.labels_text, now));
  EXPECT_EQ(p->metadata_text, g.metadata_text);
  auto rows = SampleWriter::label_rows_of(p->labels);
  ASSERT_EQ(rows.size(), g.rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].type, g.rows[i].type);
    EXPECT_EQ(rows[i].name, g.rows[i].name);
    EXPECT_EQ(rows[i].n, g.rows[i].n);
    EXPECT_FALSE(rows[i].score.has_value());
  }
  if (line.find("creation-time") == std::string::npos && !p->labels.empty())
    EXPECT_NE(p->labels_text.find("\"create_time\":" + std::to_string(now)), std::string::npos);
}

void expect_declined(const std::string& line, int type, Fixture& f) {
  SCOPED_TRACE(line);
  EXPECT_FALSE(read_plain_line(line, type, kNow, f.read).has_value());
}

std::string det(const std::string& loc, const std::string& extra = "") {
  return R"({"type":"modelarts/object_detection","annotation-loc":")" + loc + R"(","annotation-format":"PASCAL VOC")" + extra + "}";
}

}  // namespace

TEST(PlainLine, DetectionLinesEqualTheGenericPath) {
  Fixture f;
  f.files["/bkt/a.xml"] = voc(box("cat", "0", "20", "100", "200"));
  f.files["/bkt/two.xml"] = voc(box("cat", "1", "2", "3", "4") + box("dog", "10", "10", "640", "480") + box("cat", "5", "5", "6", "6"));
  f.files["/bkt/nosize.xml"] = voc(box("cat", "1", "2", "30", "40"), "");
  f.files["/bkt/zero.xml"] = voc("", "<size><width>0</width><height>0</height></size>");
  f.files["/bkt/nodepth.xml"] = voc(box(" a&amp;b ", "020", " 7 ", "21", "30"), "<size><width>50</width><height>60</height></size>");
  f.files["/bkt/uni.xml"] = voc(box("猫", "1", "1", "2", "2", "<difficult>0</difficult>"));
  f.files["/bkt/false.xml"] = voc(box("cat", "1", "1", "2", "2", "<difficult> False </difficult>"));
  f.files["/bkt/empty.xml"] = voc("");
  const std::string t = R"(,"annotated-by":"human","creation-time":"2024-01-02 03:04:05")";
  expect_same(R"({"source":"obs://bkt/a.jpg","usage":"TRAIN","annotation":[)" + det("obs://bkt/a.xml", t) + "]}", 1, f);
  expect_same(R"({"source":"s3://bkt/a.jpg","annotation":[)" + det("s3://bkt/two.xml") + "]}", 1, f);
  expect_same(R"({"annotation":[)" + det("S3A://bkt/two.xml", R"(,"annotated-by":"alice")") + R"(], "usage":"eval", "source":"/bkt/x.png"})", 1, f);
  // The line's size is the first document's that has one; later boxes are checked against it.
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/nosize.xml") + "," + det("obs://bkt/a.xml", t) + "]}", 1, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/zero.xml") + "]}", 1, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/nodepth.xml", t) + "]}", 1, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/uni.xml", t) + "]}", 1, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/false.xml", t) + "]}", 1, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/empty.xml", t) + "]}", 1, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"object_detection","annotation-loc":"obs://bkt/a.xml","annotation-format":"voc"}]})", 1, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[{"annotation-loc":"obs://bkt/a.xml","type":"modelarts/object_detection"}]})", 1, f);
  expect_same(R"( { "source" : "obs://bkt/a.jpg" , "usage" : "" , "annotation" : [ ] } )", 1, f);
  expect_same(R"({"source":"obs://bkt/a.jpg"})", 1, f);
}

TEST(PlainLine, ClassificationLinesEqualTheGenericPath) {
  Fixture f;
  const std::string t = R"(,"annotated-by":"human","creation-time":"2024-01-02 03:04:05")";
  expect_same(R"({"source":"obs://bkt/a.jpg","usage":"TRAIN","annotation":[{"type":"modelarts/image_classification","name":"cat")" + t + "}]}", 0, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_classification","name":"cat"},)"
              R"({"name":"dog","type":"image_classification","annotated-by":"bob","creation-time":"2023-12-31 23:59:59"},)"
              R"({"type":"modelarts/image_classification","name":"cat"}]})", 0, f);
  expect_same(R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_classification","name":"中文 标签"}]})", 0, f);
  expect_same(R"({"usage":"test","source":"/bkt/c/d/e.jpg"})", 0, f);
}

TEST(PlainLine, DeclinesWhatItDoesNotReadExactly) {
  Fixture f;
  f.files["/bkt/a.xml"] = voc(box("cat", "0", "20", "100", "200"));
  f.files["/bkt/hard.xml"] = voc(box("cat", "0", "20", "100", "200", "<difficult>1</difficult>"));
  f.files["/bkt/out.xml"] = voc(box("cat", "0", "20", "641", "200"));
  f.files["/bkt/frac.xml"] = voc(box("cat", "0", "20.5", "100", "200"));
  f.files["/bkt/neg.xml"] = voc(box("cat", "-1", "20", "100", "200"));
  f.files["/bkt/inverted.xml"] = voc(box("cat", "100", "20", "100", "200"));
  f.files["/bkt/nosize.xml"] = voc(box("cat", "1", "2", "30", "40"), "");
  f.files["/bkt/poly.xml"] = voc("<object><name>p</name><polygon><x1>1</x1><y1>1</y1><x2>5</x2><y2>1</y2><x3>3</x3><y3>4</y3></polygon></object>");
  f.files["/bkt/conf.xml"] = voc(box("cat", "0", "20", "100", "200", "<confidence>0.5</confidence>"));
  f.files["/bkt/quote.xml"] = voc(box("a&quot;b", "0", "20", "100", "200"));
  f.files["/bkt/noname.xml"] = voc(box("", "0", "20", "100", "200"));
  f.files["/bkt/bad.xml"] = "<annotation><object>";
  f.files["/bkt/root.xml"] = "<other/>";
  f.files["/bkt/latin1.xml"] = voc(box("caf\xe9", "0", "20", "100", "200"));
  f.files["/bkt/surrogate.xml"] = voc(box("a&#xD800;b", "0", "20", "100", "200"));  // a reference that is not UTF-8
  f.files["/bkt/twoboxes.xml"] = voc(
      "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox>"
      "<bndbox><xmin>3</xmin><ymin>3</ymin><xmax>4</xmax><ymax>4</ymax></bndbox></object>");
  for (const char* name : {"hard", "out", "frac", "neg", "inverted", "nosize", "poly", "conf", "quote", "noname", "bad", "root",
                           "latin1", "surrogate", "twoboxes", "missing"})
    expect_declined(R"({"source":"obs://bkt/a.jpg","annotation":[)" + det(std::string("obs://bkt/") + name + ".xml") + "]}", 1, f);
  const std::string ok = det("obs://bkt/a.xml");
  for (const std::string& line : std::vector<std::string>{
           R"({"source":"obs://bkt/a.jpg","property":{"k":"v"},"annotation":[)" + ok + "]}",
           R"({"source":"obs://bkt/a.jpg","hard":"true","annotation":[)" + ok + "]}",
           R"({"source":"obs://bkt/a.jpg","id":"x","annotation":[)" + ok + "]}",
           R"({"source":"obs://bkt/a.jpg","sample-type":0})",
           R"({"source":"obs://bkt/\u0061.jpg"})",
           R"({"source":"obs://bkt/a.jpg","usage":"TRAINING"})",
           R"({"source":"obs://bkt/a.jpg","usage":1})",
           R"({"source":"content://hello"})",
           R"({"source":"ftp://b/a.jpg"})",
           R"({"source":"obs://B_/a.jpg"})",
           R"({"source":"obs://bkt/"})",
           R"({"source":"obs://bkt/a.jpg","source":"obs://bkt/c.jpg"})",
           R"({"source":"obs://bkt/a.jpg"} x)",
           R"({"source":"obs://bkt/a.jpg",})",
           R"({"source":"obs://bkt/a.jpg")",
           R"({})",
           R"([])",
           R"({"usage":"TRAIN"})",
           R"({"source":"obs://bkt/a.jpg","annotation":{}})",
           R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/a.xml", R"(,"hard":"1")") + "]}",
           R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/a.xml", R"(,"confidence":"0.5")") + "]}",
           R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/a.xml", R"(,"creation-time":"2024-13-02 03:04:05")") + "]}",
           R"({"source":"obs://bkt/a.jpg","annotation":[)" + det("obs://bkt/a.xml", R"(,"creation-time":"")") + "]}",
           R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/object_detection","annotation_loc":"obs://bkt/a.xml"}]})",
           R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/object_detection","annotation-loc":"obs://bkt/a.xml","annotation-format":"COCO"}]})",
           R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_segmentation","annotation-loc":"obs://bkt/a.xml"}]})",
           R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_classification","name":"cat"}]})",
           R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/object_detection","name":"cat","annotation-loc":"obs://bkt/a.xml"}]})",
       })
    expect_declined(line, 1, f);
  expect_declined(R"({"source":"obs://bkt/a.jpg","annotation":[)" + ok + "]}", 0, f);
  expect_declined(R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_classification","name":""}]})", 0, f);
  expect_declined(R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_classification"}]})", 0, f);
  expect_declined(R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_classification","name":"cat","annotation-loc":""}]})", 0, f);
  expect_declined(R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_classification","name":"a\"b"}]})", 0, f);
  expect_declined(R"({"source":"obs://bkt/a.jpg","annotation":[{"type":"modelarts/image_classification","name":"cat","property":{}}]})", 0, f);
  expect_declined(R"({"source":"obs://bkt/a.jpg"})", 3, f);
  expect_declined(R"({"source":"obs://bkt/a.jpg"})", 900, f);
  expect_declined(std::string(R"({"source":"obs://bkt/a.jpg","x":")") + std::string(kMaxManifestLine, 'a') + "\"}", 1, f);
  expect_declined("{\"source\":\"obs://bkt/\xff.jpg\"}", 1, f);
  // An annotation with many keys is declined at the seventh, not compared key by key.
  std::string many = R"({"source":"obs://bkt/a.jpg","annotation":[{)";
  for (int i = 0; i < 20000; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\":\"\"";
  expect_declined(many + "}]}", 1, f);
}

// count_lines (the import's first pass, for its total) must count exactly
// the lines the import then reads as items: not blank, or too long.
namespace {

class StringReader : public atelier::obs::ObjectReader {
 public:
  // Hands out at most `chunk` bytes a call, so lines straddle reads.
  StringReader(std::string s, size_t chunk) : s_(std::move(s)), chunk_(chunk) {}
  size_t read(char* buf, size_t cap) override {
    size_t n = std::min({cap, chunk_, s_.size() - pos_});
    std::memcpy(buf, s_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  uint64_t size() const override { return s_.size(); }
  atelier::obs::ObjectInfo info() const override {
    atelier::obs::ObjectInfo info;
    info.size = s_.size();
    return info;
  }
  void seek(uint64_t offset) override { pos_ = std::min<size_t>(offset, s_.size()); }

 private:
  std::string s_;
  size_t chunk_, pos_ = 0;
};

int64_t items_read(const std::string& text, size_t chunk) {
  LineReader r(std::make_unique<StringReader>(text, chunk));
  std::string line;
  bool too_long;
  int64_t n = 0;
  while (r.next(line, too_long))
    if (too_long || line.find_first_not_of(" \t\r") != std::string::npos) ++n;
  return n;
}

TEST(LineReader, CountLinesCountsWhatTheImportReads) {
  std::string big_blank(kMaxManifestLine + 5, ' ');
  std::string big(kMaxManifestLine + 70000, 'x');
  std::vector<std::string> texts = {
      "", "\n", "a", "a\n", "a\nb", " \t\r\n\r\n  x \n\n", "\r\n{\"a\":1}\r\n   \n", "  \n\t\n",
      big_blank + "\n{}\n", big + "\nnext\n", "x\n" + big_blank, std::string(70000, ' ') + "y\n" + std::string(140000, '\n')};
  std::mt19937 rng(7);
  for (int k = 0; k < 200; ++k) {  // random mixes of the characters that matter
    std::string t;
    size_t len = rng() % 300;
    for (size_t i = 0; i < len; ++i) t += " \t\r\nab"[rng() % 6];
    texts.push_back(t);
  }
  for (auto& t : texts)
    for (size_t chunk : {size_t(1), size_t(3), size_t(4096), size_t(1) << 20}) {
      LineReader r(std::make_unique<StringReader>(t, chunk));
      EXPECT_EQ(r.count_lines(), items_read(t, chunk)) << "text of " << t.size() << " bytes, chunk " << chunk;
      EXPECT_EQ(r.offset(), t.size());
    }
}

}  // namespace
