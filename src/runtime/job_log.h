// A job's log: the text the job printed (stdout and stderr, in order) plus a
// sparse line index beside it (`<log>.idx`: the byte offset of every
// kStride-th line as a little-endian uint64), written by the one process that
// appends the log (the supervisor). Readers page by line number at a cost of
// O(lines requested + kStride), whatever the size of the log, and may read
// while the job still writes: only complete lines are counted.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atelier::runtime {

constexpr uint64_t kLogStride = 64;
// The writer breaks longer lines, so no line costs a reader more than this.
constexpr uint64_t kMaxLineBytes = 16 << 10;

// Appends to a log and keeps its index. Owns both file descriptors.
class JobLogWriter {
 public:
  // Creates (truncates) `path` and `path`.idx. Throws std::runtime_error.
  explicit JobLogWriter(const std::string& path);
  ~JobLogWriter();
  JobLogWriter(const JobLogWriter&) = delete;
  JobLogWriter& operator=(const JobLogWriter&) = delete;

  // Appends the job's output. A lone CR (progress bars) ends a line like LF,
  // CRLF is one line end, and a line is broken at kMaxLineBytes.
  void append(std::string_view data);
  // Ends an unterminated last line, so every byte belongs to a counted line.
  void finish();

 private:
  int log_fd_ = -1, idx_fd_ = -1;
  uint64_t offset_ = 0, lines_ = 0;
  uint64_t line_len_ = 0;  // bytes of the unfinished last line
  bool at_line_start_ = true;
  bool skip_lf_ = false;  // the last chunk ended with CR: an LF first in the next belongs to it
};

struct LogPage {
  std::vector<std::string> lines;
  uint64_t first = 0;  // 1-based number of lines[0]; 0 when empty
  uint64_t total = 0;  // complete lines in the log now
};

// Reads one page of a log. Lines longer than kMaxLineBytes (a log not
// written by JobLogWriter) are cut there.
class JobLogReader {
 public:
  static constexpr size_t kMaxLineBytes = runtime::kMaxLineBytes;
  // nullopt when the log does not exist.
  static std::optional<JobLogReader> open(const std::string& path);
  ~JobLogReader();
  JobLogReader(JobLogReader&& o) noexcept;
  JobLogReader& operator=(JobLogReader&&) = delete;

  uint64_t total_lines();
  // Lines [first, first + count) by 0-based number, clipped to the log.
  LogPage read(uint64_t first, uint64_t count);

 private:
  JobLogReader(int log_fd, int idx_fd) : log_fd_(log_fd), idx_fd_(idx_fd) {}
  // Byte offset of 0-based line `k * kLogStride`, and how many index entries exist.
  uint64_t index_entries();
  uint64_t index_at(uint64_t k);
  int log_fd_ = -1, idx_fd_ = -1;
};

}  // namespace atelier::runtime
