#include <gtest/gtest.h>

#include "training/metrics.h"

using namespace atelier::training;

TEST(Metrics, Crc32cKnownVector) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Metrics, EventRecordsRoundTrip) {
  std::string file;
  for (int i = 0; i < 3; ++i) file += tfevents_record({"loss", i, 1700000000.5 + i, 1.0 / (i + 1)});
  file += tfevents_record({"acc", 2, 1700000002.5, 0.75});
  std::vector<Scalar> out;
  auto r = read_tfevents(file, out);
  EXPECT_EQ(r.end, file.size());
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(r.skipped, 0u);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].tag, "loss");
  EXPECT_EQ(out[1].step, 1);
  EXPECT_DOUBLE_EQ(out[1].wall_time, 1700000001.5);
  EXPECT_FLOAT_EQ(float(out[1].value), 0.5f);
  EXPECT_EQ(out[3].tag, "acc");
}

TEST(Metrics, DamagedPayloadIsSkippedWithAWarningAndTheRestRead) {
  std::string a = tfevents_record({"loss", 1, 1, 0.5}), b = tfevents_record({"loss", 2, 2, 0.25});
  b[20] ^= 0x01;  // inside the Event: its CRC no longer matches
  std::string c = tfevents_record({"loss", 3, 3, 0.125});
  std::vector<Scalar> out;
  auto r = read_tfevents(a + b + c, out);
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.skipped, 1u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("CRC"), std::string::npos);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].step, 3);
}

TEST(Metrics, DamagedLengthStopsFramingWithoutACrash) {
  std::string a = tfevents_record({"loss", 1, 1, 0.5}), b = tfevents_record({"loss", 2, 2, 0.25});
  b[0] ^= 0x40;
  std::vector<Scalar> out;
  auto r = read_tfevents(a + b, out);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(r.end, (a + b).size());
}

TEST(Metrics, ARecordCutShortWaitsForTheNextRead) {
  std::string a = tfevents_record({"loss", 1, 1, 0.5}), b = tfevents_record({"loss", 2, 2, 0.25});
  std::string partial = a + b.substr(0, b.size() - 3);
  std::vector<Scalar> out;
  auto r = read_tfevents(partial, out);
  EXPECT_EQ(r.end, a.size());
  EXPECT_EQ(out.size(), 1u);
  std::string rest = (a + b).substr(r.end);
  r = read_tfevents(rest, out);
  EXPECT_EQ(r.end, b.size());
  EXPECT_EQ(out.size(), 2u);
}

TEST(Metrics, GarbageNeverCrashes) {
  std::string junk;
  for (int i = 0; i < 5000; ++i) junk.push_back(char((i * 7919) & 0xff));
  std::vector<Scalar> out;
  read_tfevents(junk, out);
  read_jsonl(junk, out);
  SUCCEED();
}

TEST(Metrics, JsonLinesInBothShapes) {
  std::string text =
      "{\"step\": 1, \"loss\": 0.5, \"acc\": 0.25, \"epoch\": 0}\n"
      "not json\n"
      "\n"
      "{\"tag\": \"lr\", \"step\": 7, \"value\": 0.001, \"wall_time\": 1700000000}\n"
      "{\"step\": 2, \"loss\": 0.4";  // still being written
  std::vector<Scalar> out;
  auto r = read_jsonl(text, out);
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(r.end, text.rfind('\n') + 1);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].tag, "acc");  // keys of one line in name order
  EXPECT_EQ(out[1].tag, "loss");
  EXPECT_EQ(out[2].tag, "lr");
  EXPECT_EQ(out[2].step, 7);
  EXPECT_DOUBLE_EQ(out[2].wall_time, 1700000000);
}
