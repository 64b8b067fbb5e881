// Reading an object line by line, as imports and version listings read manifests.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "data/manifest.h"
#include "obs/object_store.h"

namespace atelier::data {

// Lines of an object, each at most kMaxManifestLine bytes (a longer one is
// reported as an empty line with `too_long` set, and skipped).
class LineReader {
 public:
  explicit LineReader(std::unique_ptr<obs::ObjectReader> r) : r_(std::move(r)) {}
  bool next(std::string& line, bool& too_long) {
    line.clear();
    too_long = false;
    for (;;) {
      if (!fill()) return !line.empty() || too_long;
      const char* nl = static_cast<const char*>(std::memchr(buf_ + pos_, '\n', len_ - pos_));
      size_t n = (nl ? size_t(nl - buf_) : len_) - pos_;
      if (!too_long) {
        if (line.size() + n > kMaxManifestLine) {
          too_long = true;
          line.clear();
        } else {
          line.append(buf_ + pos_, n);
        }
      }
      pos_ += n;
      offset_ += n;
      if (nl) {
        ++pos_;
        ++offset_;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
      }
    }
  }

  // Counts the lines next() would return that are not blank (only spaces,
  // tabs, CRs) or are too long, without copying them; reads to the end.
  int64_t count_lines() {
    int64_t n = 0;
    size_t length = 0;  // of the line so far
    bool counted = false;
    for (;;) {
      if (!fill()) return n;
      const char* nl = static_cast<const char*>(std::memchr(buf_ + pos_, '\n', len_ - pos_));
      size_t end = nl ? size_t(nl - buf_) : len_;
      if (!counted) {
        const char* p = buf_ + pos_;
        while (p < buf_ + end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
        length += end - pos_;
        if (p < buf_ + end || length > kMaxManifestLine) {
          ++n;
          counted = true;
        }
      }
      offset_ += end - pos_ + (nl ? 1 : 0);
      pos_ = end + (nl ? 1 : 0);
      if (nl) {
        length = 0;
        counted = false;
      }
    }
  }

  // Bytes consumed so far: the start of the next line.
  uint64_t offset() const { return offset_; }
  // Discards the first `n` bytes (resuming at a recorded offset); false at EOF first.
  bool skip(uint64_t n) {
    while (offset_ < n) {
      if (!fill()) return false;
      size_t k = size_t(std::min<uint64_t>(len_ - pos_, n - offset_));
      pos_ += k;
      offset_ += k;
    }
    return true;
  }

 private:
  // Reads more once the buffer is used up; false at the end of the object.
  bool fill() {
    if (pos_ < len_) return true;
    if (eof_) return false;
    len_ = r_->read(buf_, sizeof buf_);
    pos_ = 0;
    eof_ = len_ == 0;
    return !eof_;
  }

  std::unique_ptr<obs::ObjectReader> r_;
  char buf_[1 << 16];
  size_t pos_ = 0, len_ = 0;
  uint64_t offset_ = 0;
  bool eof_ = false;
};

}  // namespace atelier::data
