#include "common/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace atelier::clock {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

static std::string fmt(int64_t ms, bool z) {
  time_t secs = time_t(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06d%s", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms % 1000) * 1000,
           z ? "Z" : "");
  return buf;
}

std::string iso_micro_z(int64_t ms) { return fmt(ms, true); }
std::string iso_micro(int64_t ms) { return fmt(ms, false); }

static std::optional<int64_t> to_ms(int y, int mo, int d, int h, int mi, int s) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d < 1 || d > kDays[mo - 1] + (mo == 2 && leap)) return std::nullopt;
  // Days from the civil date (H. Hinnant's algorithm): no time-zone lock as in timegm.
  int yy = y - (mo <= 2);
  int era = yy / 400;
  int yoe = yy - era * 400;
  int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = int64_t(era) * 146097 + doe - 719468;
  return ((days * 24 + h) * 60 + mi) * 60000 + int64_t(s) * 1000;
}

static bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::optional<int64_t> parse_sdk_date(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' || !digits(s, 0, 4, y) ||
      !digits(s, 4, 2, mo) || !digits(s, 6, 2, d) || !digits(s, 9, 2, h) ||
      !digits(s, 11, 2, mi) || !digits(s, 13, 2, se))
    return std::nullopt;
  return to_ms(y, mo, d, h, mi, se);
}

std::optional<int64_t> parse_iso(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || !digits(s, 0, 4, y) || !digits(s, 5, 2, mo) || !digits(s, 8, 2, d) ||
      !digits(s, 11, 2, h) || !digits(s, 14, 2, mi) || !digits(s, 17, 2, se) || s.back() != 'Z')
    return std::nullopt;
  auto base = to_ms(y, mo, d, h, mi, se);
  if (!base) return std::nullopt;
  int64_t frac = 0;
  if (s[19] == '.') {
    if (s.size() < 22) return std::nullopt;  // at least one fraction digit
    int64_t scale = 100;
    for (size_t i = 20; i + 1 < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      frac += (s[i] - '0') * scale;
      scale /= 10;
    }
  } else if (s.size() != 20) {
    return std::nullopt;
  }
  return *base + frac;
}

std::string rfc1123(int64_t ms) {
  std::time_t t = std::time_t(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);  // C locale: English names
  return buf;
}

}  // namespace atelier::clock
