#include "data/manifest_text.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <set>

#include "obs/object_store.h"

namespace atelier::data::manifest_text {

[[noreturn]] void fail(const std::string& field, const std::string& why) { throw ManifestError(field + ": " + why); }

size_t utf8_seq(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  unsigned c = at(0);
  auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) { return at(k) >= lo && at(k) <= hi; };
  if (i >= s.size()) return 0;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF)
    return cont(1, c == 0xE0 ? 0xA0 : 0x80, c == 0xED ? 0x9F : 0xBF) && cont(2) ? 3 : 0;
  if (c >= 0xF0 && c <= 0xF4)
    return cont(1, c == 0xF0 ? 0x90 : 0x80, c == 0xF4 ? 0x8F : 0xBF) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

size_t utf8_error(std::string_view s) {
  size_t ascii = 0;  // most text is ASCII: skip it eight bytes at a time
  for (uint64_t w; ascii + 8 <= s.size(); ascii += 8) {
    std::memcpy(&w, s.data() + ascii, 8);
    if (w & 0x8080808080808080ull) break;
  }
  for (size_t i = ascii; i < s.size();) {
    size_t n = utf8_seq(s, i);
    if (!n) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string printable(std::string_view s, size_t max) {
  std::string o;
  size_t i = 0;
  for (size_t chars = 0; i < s.size() && chars < max; ++chars) {
    size_t n = utf8_seq(s, i);
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (n == 0 || c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      o += buf;
      i += 1;
    } else {
      o.append(s.substr(i, n));
      i += n;
    }
  }
  return i < s.size() ? o + "..." : o;
}

std::string show(std::string_view s) { return "'" + printable(s, 64) + "'"; }

std::optional<json> parse_number(std::string_view s) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  const char* end = s.data() + s.size();
  int64_t i;
  auto ri = std::from_chars(s.data(), end, i);
  if (ri.ec == std::errc() && ri.ptr == end) return json(i);
  double d;
  auto rd = std::from_chars(s.data(), end, d);
  if (rd.ec == std::errc() && rd.ptr == end && std::isfinite(d)) return json(d);
  return std::nullopt;
}

std::string time_text(int64_t ms) {
  time_t secs = time_t(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

int64_t creation_ms(const std::string& s, const std::string& field) {
  // The lines of one manifest often share their time: the last one read on
  // this thread is kept.
  thread_local std::string last;
  thread_local int64_t last_ms = 0;
  if (!last.empty() && s == last) return last_ms;
  struct tm tm {};
  char tail;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &tail) != 6)
    fail(field, show(s) + " is not yyyy-MM-dd HH:mm:ss");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t ms = int64_t(timegm(&tm)) * 1000;
  if (time_text(ms) != s) fail(field, show(s) + " is not a valid yyyy-MM-dd HH:mm:ss time");
  last = s;
  last_ms = ms;
  return ms;
}

std::string object_uri(std::string_view s, std::string& why) {
  std::string_view rest = s;
  size_t colon = s.find("://");
  if (colon != std::string_view::npos) {
    std::string scheme = lower(s.substr(0, colon));
    if (scheme != "obs" && scheme != "s3" && scheme != "s3a")
      return why = "unsupported URI scheme in " + show(s) + " (expected obs://, s3://, s3a:// or /bucket/key)", "";
    rest.remove_prefix(colon + 3);
  } else if (!s.empty() && s.front() == '/') {
    rest.remove_prefix(1);
  } else {
    return why = show(s) + " is not an object URI (expected obs://bucket/key, s3://bucket/key or /bucket/key)", "";
  }
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) return why = show(s) + " names no object (bucket/key)", "";
  std::string_view bucket = rest.substr(0, slash), key = rest.substr(slash + 1);
  if (!obs::valid_bucket(bucket)) return why = show(bucket) + " is not a valid bucket name", "";
  if (key.back() == '/') return why = show(s) + " names a folder, not an object", "";
  if (!obs::valid_key(key)) return why = show(key) + " is not a valid object key", "";
  return "/" + std::string(bucket) + "/" + std::string(key);
}

std::optional<std::string> usage_named(std::string_view u) {
  std::string up(u);
  for (char& c : up) c = char(std::toupper(static_cast<unsigned char>(c)));
  if (up != "TRAIN" && up != "EVAL" && up != "TEST" && up != "INFERENCE" && !up.empty()) return std::nullopt;
  return up;
}

bool is_voc_format(std::string_view format) {
  std::string f;
  for (char c : lower(format))
    if (c != ' ' && c != '_' && c != '-') f.push_back(c);
  return f == "pascalvoc" || f == "voc";
}

namespace {
const std::set<std::string_view> kShapes = {"bndbox", "polygon", "polyline", "line", "dashed", "point", "circle"};
}  // namespace

bool is_shape(std::string_view kind) { return kShapes.count(kind) > 0; }
const char* const kShapeList = "bndbox, polygon, polyline, line, dashed, point, circle";

void check_feature(const std::string& shape, const json& f, const std::string& field) {
  if (!is_shape(shape)) fail(field, "unknown shape kind " + show(shape) + " (expected one of " + kShapeList + ")");
  if (!f.is_array()) fail(field, "@modelarts:feature must be a list of points");
  for (size_t i = 0; i < f.size(); ++i) {
    const json& p = f[i];
    size_t arity = shape == "circle" && i == 1 ? 1 : 2;
    if (!p.is_array() || p.size() != arity)
      fail(field, "@modelarts:feature[" + std::to_string(i) + "] must be " + (arity == 1 ? "[r]" : "[x, y]"));
    for (auto& c : p) {
      if (!c.is_number()) fail(field, "@modelarts:feature[" + std::to_string(i) + "] holds a non-number");
      if (c.get<double>() < 0) fail(field, "@modelarts:feature[" + std::to_string(i) + "]: coordinates must be >= 0");
    }
  }
  auto need = [&](size_t n, bool exact) {
    if (exact ? f.size() != n : f.size() < n)
      fail(field, "a " + shape + " needs " + (exact ? "" : "at least ") + std::to_string(n) + " points, not " +
                      std::to_string(f.size()));
  };
  if (shape == "bndbox") {
    need(2, true);
    if (!(f[0][0].get<double>() < f[1][0].get<double>() && f[0][1].get<double>() < f[1][1].get<double>()))
      fail(field, "invalid bndbox: xmin must be < xmax and ymin < ymax");
  } else if (shape == "polygon") {
    need(3, false);
  } else if (shape == "polyline") {
    need(2, false);
  } else if (shape == "line" || shape == "dashed") {
    need(2, true);
  } else if (shape == "point") {
    need(1, true);
  } else if (shape == "circle") {
    if (f.size() != 2) fail(field, "a circle is [[cx, cy], [r]]");
    if (!(f[1][0].get<double>() > 0)) fail(field, "a circle needs r > 0");
  }
}

}  // namespace atelier::data::manifest_text
