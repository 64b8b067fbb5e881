#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "runtime/job_log.h"
#include "test_util.h"

using atelier::runtime::JobLogReader;
using atelier::runtime::JobLogWriter;
using atelier::runtime::kLogStride;

namespace {

struct TempLog {
  atelier::testing::TempDir dir;
  std::string path = dir.file("job.log");
};

std::vector<std::string> numbered(size_t n) {
  std::vector<std::string> v;
  for (size_t i = 0; i < n; ++i) v.push_back("line " + std::to_string(i + 1) + std::string(i % 7, 'x'));
  return v;
}

}  // namespace

// Every page of every size read from a log written in chunks of random sizes
// equals the same slice of the lines written.
TEST(JobLog, PagesMatchTheLinesWrittenWhateverTheChunking) {
  TempLog t;
  auto lines = numbered(3 * kLogStride + 17);
  std::string all;
  for (auto& l : lines) all += l + "\n";
  {
    JobLogWriter w(t.path);
    std::mt19937 rng(7);
    for (size_t i = 0; i < all.size();) {
      size_t n = std::min(all.size() - i, size_t(rng() % 300 + 1));
      w.append(std::string_view(all).substr(i, n));
      i += n;
    }
  }
  auto r = JobLogReader::open(t.path);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->total_lines(), lines.size());
  for (uint64_t first : {uint64_t(0), uint64_t(1), kLogStride - 1, kLogStride, kLogStride + 1, uint64_t(lines.size() - 3)})
    for (uint64_t count : {uint64_t(1), uint64_t(50), uint64_t(500)}) {
      auto page = r->read(first, count);
      uint64_t end = std::min<uint64_t>(lines.size(), first + count);
      ASSERT_EQ(page.lines.size(), end - first) << first << " " << count;
      EXPECT_EQ(page.first, first + 1);
      for (uint64_t i = first; i < end; ++i) ASSERT_EQ(page.lines[i - first], lines[i]);
    }
  EXPECT_TRUE(r->read(lines.size(), 10).lines.empty());
  EXPECT_TRUE(r->read(0, 0).lines.empty());
}

// A line still being written is not counted until its newline arrives;
// finish() ends it.
TEST(JobLog, PartialLastLineCountsOnlyWhenComplete) {
  TempLog t;
  JobLogWriter w(t.path);
  w.append("one\ntw");
  auto r = JobLogReader::open(t.path);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->total_lines(), 1u);
  w.append("o\nthr");
  EXPECT_EQ(r->total_lines(), 2u);
  EXPECT_EQ(r->read(1, 5).lines, std::vector<std::string>{"two"});
  w.finish();
  EXPECT_EQ(r->total_lines(), 3u);
  EXPECT_EQ(r->read(2, 1).lines, std::vector<std::string>{"thr"});
  w.finish();  // nothing more to end
  EXPECT_EQ(r->total_lines(), 3u);
}

// A line longer than kMaxLineBytes is broken into lines of that size, so
// no page costs more than that per line.
TEST(JobLog, LongLinesAreBroken) {
  TempLog t;
  {
    JobLogWriter w(t.path);
    w.append("short\n");
    w.append(std::string(atelier::runtime::kMaxLineBytes * 2, 'a'));
    w.append(std::string(100, 'b'));
    w.append("\nafter\n");
  }
  auto r = JobLogReader::open(t.path);
  auto page = r->read(0, 10);
  ASSERT_EQ(page.lines.size(), 5u);
  EXPECT_EQ(page.lines[1], std::string(atelier::runtime::kMaxLineBytes, 'a'));
  EXPECT_EQ(page.lines[2], std::string(atelier::runtime::kMaxLineBytes, 'a'));
  EXPECT_EQ(page.lines[3], std::string(100, 'b'));
  EXPECT_EQ(page.lines[4], "after");
}

// Progress bars redraw their line with CR: each drawing is a line of its own;
// CRLF is one line end, also when split between two writes.
TEST(JobLog, CarriageReturnsEndLines) {
  TempLog t;
  {
    JobLogWriter w(t.path);
    w.append(" 10%\r 50%\r100%\n");
    w.append("dos line\r");
    w.append("\nnext\r\nlast");
    w.finish();
  }
  auto r = JobLogReader::open(t.path);
  EXPECT_EQ(r->read(0, 10).lines, (std::vector<std::string>{" 10%", " 50%", "100%", "dos line", "next", "last"}));
}

TEST(JobLog, MissingLogIsNullopt) { EXPECT_FALSE(JobLogReader::open("/nonexistent/atelier/job.log")); }
