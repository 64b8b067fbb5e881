// Which scheme a request is signed with, and the steps all schemes share.
#include "s3/auth.h"

#include <cstdlib>
#include <ctime>

#include "s3/auth_internal.h"

namespace atelier::s3 {

namespace detail {

std::string secret_of(const KeyLookup& keys, const std::string& access_key) {
  auto k = keys(access_key);
  if (!k || !k->active)
    throw S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
  return k->secret;
}

void check_skew(int64_t t_ms, int64_t now_ms, const AuthOptions& opts) {
  if (std::llabs(t_ms - now_ms) > opts.max_skew_ms)
    throw S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.");
}

S3Error signature_mismatch() {
  return {403, "SignatureDoesNotMatch",
          "The request signature we calculated does not match the signature you provided. Check your key and signing "
          "method."};
}

S3Error expired() { return {403, "AccessDenied", "Request has expired"}; }

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

const std::string* param(const http::Request& req, std::string_view key) { return req.query_param(key); }

}  // namespace detail

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool query_has_credentials(const http::Request& req) {
  return req.query_param("X-Amz-Credential") || req.query_param("X-Amz-Algorithm") ||
         req.query_param("X-Amz-Signature") || req.query_param("AWSAccessKeyId") || req.query_param("AccessKeyId");
}

// Two digits at s[i]; -1 when they are not digits.
int digits(std::string_view s, size_t i, size_t n) {
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    if (i + k >= s.size() || s[i + k] < '0' || s[i + k] > '9') return -1;
    v = v * 10 + (s[i + k] - '0');
  }
  return v;
}

std::optional<int64_t> epoch_ms(int y, int mon, int d, int h, int mi, int sec) {
  if (y < 1970 || mon < 1 || mon > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return int64_t(timegm(&tm)) * 1000;
}

}  // namespace

std::optional<int64_t> parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  int y = digits(s, 0, 4), mon = digits(s, 4, 2), d = digits(s, 6, 2);
  int h = digits(s, 9, 2), mi = digits(s, 11, 2), sec = digits(s, 13, 2);
  if (y < 0 || mon < 0 || d < 0 || h < 0 || mi < 0 || sec < 0) return std::nullopt;
  return epoch_ms(y, mon, d, h, mi, sec);
}

// "Tue, 27 Mar 2007 19:36:42 +0000" / "... GMT": the weekday is not checked.
std::optional<int64_t> parse_http_date(std::string_view s) {
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  size_t comma = s.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  s.remove_prefix(comma + 2);
  // "27 Mar 2007 19:36:42 GMT"
  if (s.size() < 24 || s[2] != ' ' || s[6] != ' ' || s[11] != ' ' || s[14] != ':' || s[17] != ':' || s[20] != ' ')
    return std::nullopt;
  int mon = 0;
  for (int i = 0; i < 12; ++i)
    if (s.substr(3, 3) == months[i]) mon = i + 1;
  std::string_view zone = s.substr(21);
  if (zone != "GMT" && zone != "UTC" && zone != "+0000" && zone != "-0000" && zone != "Z") return std::nullopt;
  int d = digits(s, 0, 2), y = digits(s, 7, 4), h = digits(s, 12, 2), mi = digits(s, 15, 2), sec = digits(s, 18, 2);
  if (!mon || d < 0 || y < 0 || h < 0 || mi < 0 || sec < 0) return std::nullopt;
  return epoch_ms(y, mon, d, h, mi, sec);
}

bool has_credentials(const http::Request& req) {
  return req.headers.has("Authorization") || query_has_credentials(req);
}

AuthResult authenticate(const http::Request& req, const KeyLookup& keys, int64_t now_ms, const AuthOptions& opts) {
  bool in_query = query_has_credentials(req);
  if (req.headers.has("Authorization")) {
    if (in_query)
      throw S3Error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                                            "Signature query string parameter or the Authorization header should be specified");
    const std::string& a = req.headers.get("Authorization");
    if (starts_with(a, "AWS4-HMAC-SHA256 ")) return detail::v4_header(req, a, keys, now_ms, opts);
    if (starts_with(a, "AWS ")) return detail::v2_header(req, a, false, keys, now_ms, opts);
    if (starts_with(a, "OBS ")) return detail::v2_header(req, a, true, keys, now_ms, opts);
    throw S3Error(400, "InvalidArgument", "Unsupported Authorization Type");
  }
  if (req.query_param("X-Amz-Credential") || req.query_param("X-Amz-Algorithm") || req.query_param("X-Amz-Signature"))
    return detail::v4_query(req, keys, now_ms, opts);
  if (req.query_param("AWSAccessKeyId")) return detail::v2_query(req, false, keys, now_ms, opts);
  if (req.query_param("AccessKeyId")) return detail::v2_query(req, true, keys, now_ms, opts);
  throw S3Error(403, "AccessDenied", "Access Denied");
}

}  // namespace atelier::s3
