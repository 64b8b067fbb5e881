#include "runtime/job_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace atelier::runtime {

namespace {

void write_all(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("log write: ") + std::strerror(errno));
    }
    p += w;
    n -= size_t(w);
  }
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}

}  // namespace

JobLogWriter::JobLogWriter(const std::string& path) {
  log_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
  if (log_fd_ < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  std::string idx = path + ".idx";
  idx_fd_ = ::open(idx.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
  if (idx_fd_ < 0) {
    ::close(log_fd_);
    throw std::runtime_error("cannot create " + idx + ": " + std::strerror(errno));
  }
  std::string first;
  put_u64(first, 0);
  write_all(idx_fd_, first.data(), first.size());
}

JobLogWriter::~JobLogWriter() {
  if (log_fd_ >= 0) ::close(log_fd_);
  if (idx_fd_ >= 0) ::close(idx_fd_);
}

void JobLogWriter::append(std::string_view data) {
  if (skip_lf_ && !data.empty() && data.front() == '\n') data.remove_prefix(1);  // the LF of a CRLF split across chunks
  skip_lf_ = false;
  if (data.empty()) return;
  // Most output needs no change: no carriage return, no line over the limit.
  bool plain = !std::memchr(data.data(), '\r', data.size());
  if (plain) {
    uint64_t len = line_len_;
    for (const char* p = data.data(); plain;) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', size_t(data.data() + data.size() - p)));
      uint64_t seg = uint64_t((nl ? nl : data.data() + data.size()) - p);
      if (len + seg > kMaxLineBytes) plain = false;
      if (!nl) {
        len += seg;
        break;
      }
      len = 0;
      p = nl + 1;
    }
    if (plain) line_len_ = len;
  }
  std::string fixed;
  if (!plain) {
    // A lone CR (a progress bar redrawing its line) ends a line, CRLF is one
    // line end, and a line reaching kMaxLineBytes is broken there: a reader
    // never has to scan further than that for a line.
    fixed.reserve(data.size() + data.size() / kMaxLineBytes + 8);
    for (size_t i = 0; i < data.size(); ++i) {
      char c = data[i];
      if (c == '\r') {
        if (i + 1 < data.size() && data[i + 1] == '\n') continue;
        if (i + 1 == data.size()) skip_lf_ = true;
        c = '\n';
      }
      if (c != '\n' && line_len_ >= kMaxLineBytes) {
        fixed.push_back('\n');
        line_len_ = 0;
      }
      fixed.push_back(c);
      line_len_ = c == '\n' ? 0 : line_len_ + 1;
    }
    data = fixed;
  }
  std::string entries;
  const char* base = data.data();
  const char* p = base;
  const char* end = base + data.size();
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', size_t(end - p)));
    if (!nl) break;
    ++lines_;
    if (lines_ % kLogStride == 0) put_u64(entries, offset_ + uint64_t(nl - base) + 1);
    p = nl + 1;
  }
  // The text first, then the entries pointing into it: a reader never finds
  // an entry past the end of the log.
  write_all(log_fd_, data.data(), data.size());
  offset_ += data.size();
  at_line_start_ = data.back() == '\n';
  if (!entries.empty()) write_all(idx_fd_, entries.data(), entries.size());
}

void JobLogWriter::finish() {
  if (!at_line_start_) append("\n");
}

std::optional<JobLogReader> JobLogReader::open(const std::string& path) {
  int log = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (log < 0) return std::nullopt;
  int idx = ::open((path + ".idx").c_str(), O_RDONLY | O_CLOEXEC);
  if (idx < 0) {
    ::close(log);
    return std::nullopt;
  }
  return JobLogReader(log, idx);
}

JobLogReader::JobLogReader(JobLogReader&& o) noexcept : log_fd_(o.log_fd_), idx_fd_(o.idx_fd_) {
  o.log_fd_ = o.idx_fd_ = -1;
}

JobLogReader::~JobLogReader() {
  if (log_fd_ >= 0) ::close(log_fd_);
  if (idx_fd_ >= 0) ::close(idx_fd_);
}

uint64_t JobLogReader::index_entries() {
  struct stat st {};
  if (::fstat(idx_fd_, &st) != 0) return 0;
  return uint64_t(st.st_size) / 8;
}

uint64_t JobLogReader::index_at(uint64_t k) {
  unsigned char b[8];
  if (::pread(idx_fd_, b, 8, off_t(k * 8)) != 8) return 0;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

uint64_t JobLogReader::total_lines() {
  uint64_t n = index_entries();
  if (n == 0) return 0;
  uint64_t lines = (n - 1) * kLogStride;
  uint64_t off = index_at(n - 1);
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::pread(log_fd_, buf, sizeof buf, off_t(off));
    if (r <= 0) break;
    for (const char* p = buf; (p = static_cast<const char*>(std::memchr(p, '\n', size_t(buf + r - p)))); ++p) ++lines;
    off += uint64_t(r);
  }
  return lines;
}

LogPage JobLogReader::read(uint64_t first, uint64_t count) {
  LogPage page;
  page.total = total_lines();
  if (count == 0 || first >= page.total) return page;
  uint64_t end = std::min(page.total, first + count);
  uint64_t n = index_entries();
  uint64_t k = std::min(first / kLogStride, n ? n - 1 : 0);
  uint64_t line = k * kLogStride;  // 0-based number of the line starting at `off`
  uint64_t off = n ? index_at(k) : 0;
  std::string cur;
  bool cut = false;
  char buf[1 << 16];
  while (line < end) {
    ssize_t r = ::pread(log_fd_, buf, sizeof buf, off_t(off));
    if (r <= 0) break;
    off += uint64_t(r);
    const char* p = buf;
    const char* stop = buf + r;
    while (p < stop && line < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', size_t(stop - p)));
      const char* seg_end = nl ? nl : stop;
      if (line >= first && !cut) {
        size_t room = JobLogReader::kMaxLineBytes - cur.size();
        size_t take = std::min(room, size_t(seg_end - p));
        cur.append(p, take);
        cut = cur.size() >= JobLogReader::kMaxLineBytes;
      }
      if (!nl) break;
      if (line >= first) page.lines.push_back(std::move(cur));
      cur.clear();
      cut = false;
      ++line;
      p = nl + 1;
    }
  }
  if (!page.lines.empty()) page.first = first + 1;
  return page;
}

}  // namespace atelier::runtime
