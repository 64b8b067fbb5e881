// AWS Signature V4 as S3 verifies it: in the Authorization header and in a
// presigned query.
#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <stdexcept>
#include <utility>

#include "common/crypto.h"
#include "s3/auth.h"
#include "s3/auth_internal.h"

namespace atelier::s3 {

using detail::trim;

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kUnsigned = "UNSIGNED-PAYLOAD";
constexpr std::string_view kStreaming = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
constexpr int64_t kMaxExpires = 604800;

// The parts of a SigV4 credential and signature, from header or query.
struct V4Parts {
  std::string access_key, date8, region, service;
  std::vector<std::string> signed_headers;  // as listed
  std::string signed_headers_raw, signature;
};

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t e = s.find(sep, pos);
    out.emplace_back(s.substr(pos, e == std::string_view::npos ? std::string_view::npos : e - pos));
    if (e == std::string_view::npos) return out;
    pos = e + 1;
  }
}

// Credential "AK/date/region/s3/aws4_request" and SignedHeaders "a;b" into
// `p`; `code` names the error (AuthorizationHeaderMalformed or
// AuthorizationQueryParametersError).
void parse_scope(std::string_view credential, std::string_view signed_headers, const AuthOptions& opts,
                 const std::string& code, V4Parts& p) {
  int status = 400;
  auto parts = split(credential, '/');
  if (parts.size() != 5 || parts[0].empty() || parts[1].size() != 8)
    throw S3Error(status, code, "The credential is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".");
  p.access_key = parts[0];
  p.date8 = parts[1];
  p.region = parts[2];
  p.service = parts[3];
  if (!opts.regions.empty() && std::find(opts.regions.begin(), opts.regions.end(), p.region) == opts.regions.end())
    throw S3Error(status, code, "The region '" + p.region + "' is wrong; expecting '" + opts.regions.front() + "'");
  if (p.service != "s3")
    throw S3Error(status, code, "The service '" + p.service + "' is incorrect; expecting 's3'");
  if (parts[4] != "aws4_request")
    throw S3Error(status, code, "The credential terminator '" + parts[4] + "' is incorrect; expecting 'aws4_request'");
  p.signed_headers_raw = std::string(signed_headers);
  p.signed_headers = split(signed_headers, ';');
  for (auto& h : p.signed_headers)
    if (h.empty() || std::any_of(h.begin(), h.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
      throw S3Error(status, code, "SignedHeaders must be lower case names separated by ';'");
  if (std::find(p.signed_headers.begin(), p.signed_headers.end(), "host") == p.signed_headers.end())
    throw S3Error(status, code, "The host header must be signed");
}

// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
V4Parts parse_authorization(std::string_view value, const AuthOptions& opts) {
  const std::string code = "AuthorizationHeaderMalformed";
  std::map<std::string, std::string, std::less<>> kv;
  for (auto& item : split(value.substr(kAlgorithm.size() + 1), ',')) {
    std::string_view t = trim(item);
    size_t eq = t.find('=');
    if (eq == std::string_view::npos) throw S3Error(400, code, "The authorization header is malformed.");
    kv[std::string(t.substr(0, eq))] = std::string(t.substr(eq + 1));
  }
  for (const char* need : {"Credential", "SignedHeaders", "Signature"})
    if (!kv.count(need))
      throw S3Error(400, code, std::string("The authorization header is malformed; missing ") + need + ".");
  V4Parts p;
  parse_scope(kv["Credential"], kv["SignedHeaders"], opts, code, p);
  p.signature = kv["Signature"];
  return p;
}

// The values of header `name`, each trimmed with inner runs of whitespace
// made one space, joined with ','.
std::string canonical_header_value(const http::Headers& headers, std::string_view name) {
  std::string out;
  bool first = true;
  for (auto& v : headers.all(name)) {
    if (!first) out.push_back(',');
    first = false;
    bool space = false;
    for (char c : trim(v)) {
      if (c == ' ' || c == '\t') {
        space = true;
        continue;
      }
      if (space) out.push_back(' ');
      space = false;
      out.push_back(c);
    }
  }
  return out;
}

std::string canonical_request(const http::Request& req, std::string_view canon_query, const V4Parts& p,
                              std::string_view payload) {
  auto uri = v4_canonical_uri(req.path.empty() ? std::string_view("/") : std::string_view(req.path));
  if (!uri) throw S3Error(400, "InvalidURI", "Couldn't parse the specified URI.");
  std::string cr = req.method + "\n" + *uri + "\n" + std::string(canon_query) + "\n";
  for (auto& h : p.signed_headers) cr += h + ":" + canonical_header_value(req.headers, h) + "\n";
  cr += "\n" + p.signed_headers_raw + "\n" + std::string(payload);
  return cr;
}

// Compares the request's signature with the one `secret` gives; returns the
// signing key for the chunks that may follow.
std::string check_signature(const http::Request& req, std::string_view canon_query, const V4Parts& p,
                            std::string_view amz_date, std::string_view payload, const std::string& secret) {
  std::string scope = p.date8 + "/" + p.region + "/" + p.service + "/aws4_request";
  std::string sts = std::string(kAlgorithm) + "\n" + std::string(amz_date) + "\n" + scope + "\n" +
                    crypto::sha256_hex(canonical_request(req, canon_query, p, payload));
  std::string key = v4_signing_key(secret, p.date8, p.region, p.service);
  if (!crypto::equal_ct(crypto::hex(crypto::hmac_sha256(key, sts)), p.signature)) throw detail::signature_mismatch();
  return key;
}

// x-amz-date, else Date as "YYYYMMDDTHHMMSSZ"; with its epoch ms.
std::pair<std::string, int64_t> request_time(const http::Request& req) {
  if (req.headers.has("x-amz-date")) {
    const std::string& d = req.headers.get("x-amz-date");
    if (auto t = parse_amz_date(d)) return {d, *t};
  } else if (req.headers.has("Date")) {
    if (auto t = parse_http_date(req.headers.get("Date"))) {
      std::time_t s = std::time_t(*t / 1000);
      std::tm tm{};
      gmtime_r(&s, &tm);
      char buf[20];
      std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
      return {buf, *t};
    }
  }
  throw S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
}

// What x-amz-content-sha256 announces for the body.
void read_payload(const http::Request& req, AuthResult& r) {
  if (!req.headers.has("x-amz-content-sha256"))
    throw S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  const std::string& v = req.headers.get("x-amz-content-sha256");
  if (v == kUnsigned) {
    r.payload = Payload::kUnsigned;
  } else if (v == kStreaming) {
    r.payload = Payload::kStreamingSigned;
    const std::string& n = req.headers.get("x-amz-decoded-content-length");
    char* end = nullptr;
    long long len = n.empty() ? -1 : std::strtoll(n.c_str(), &end, 10);
    if (n.empty() || *end || len < 0)
      throw S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.");
    r.decoded_content_length = len;
  } else if (is_hex64(v)) {
    r.payload = Payload::kSha256;
    r.payload_sha256 = v;
  } else if (v.rfind("STREAMING-", 0) == 0) {
    throw S3Error(501, "NotImplemented", "x-amz-content-sha256 " + v + " is not supported");
  } else {
    throw S3Error(400, "InvalidArgument",
                  "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid "
                  "sha256 value.");
  }
}

// Appends `in` percent-encoded per SigV4 (unreserved kept, upper-case hex).
void encode_into(std::string& out, std::string_view in) { out += http::percent_encode(in); }

}  // namespace

std::optional<std::string> v4_canonical_uri(std::string_view raw_path) {
  std::string out, seg;
  size_t pos = 0;
  while (true) {
    size_t slash = raw_path.find('/', pos);
    std::string_view part = raw_path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (!http::percent_decode(part, seg)) return std::nullopt;
    encode_into(out, seg);
    if (slash == std::string_view::npos) break;
    out.push_back('/');
    pos = slash + 1;
  }
  return out;
}

std::optional<std::string> v4_canonical_query(std::string_view raw_query, std::string_view skip) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t pos = 0;
  while (pos <= raw_query.size() && !raw_query.empty()) {
    size_t amp = raw_query.find('&', pos);
    std::string_view part = raw_query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string k, v;
      if (!http::percent_decode(part.substr(0, eq), k)) return std::nullopt;
      if (eq != std::string_view::npos && !http::percent_decode(part.substr(eq + 1), v)) return std::nullopt;
      if (k != skip) pairs.emplace_back(http::percent_encode(k), http::percent_encode(v));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (auto& [k, v] : pairs) out += (out.empty() ? "" : "&") + k + "=" + v;
  return out;
}

std::string v4_signing_key(std::string_view secret, std::string_view date8, std::string_view region,
                           std::string_view service) {
  std::string k = crypto::hmac_sha256("AWS4" + std::string(secret), date8);
  k = crypto::hmac_sha256(k, region);
  k = crypto::hmac_sha256(k, service);
  return crypto::hmac_sha256(k, "aws4_request");
}

// The same canonical request the verifier rebuilds, so what this side signs
// is what an S3 service (this server's endpoint among them) checks.
std::string v4_authorization(const http::Request& req, std::string_view access_key, std::string_view secret,
                             std::string_view region) {
  const std::string& amz_date = req.headers.get("x-amz-date");
  if (amz_date.size() != 16 || !req.headers.has("host") || !req.headers.has("x-amz-content-sha256"))
    throw std::invalid_argument("a request to sign needs Host, X-Amz-Date and X-Amz-Content-SHA256");
  V4Parts p;
  p.date8 = amz_date.substr(0, 8);
  p.region = std::string(region);
  p.service = "s3";
  for (auto& [name, value] : req.headers.items()) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    p.signed_headers.push_back(std::move(lower));
  }
  std::sort(p.signed_headers.begin(), p.signed_headers.end());
  p.signed_headers.erase(std::unique(p.signed_headers.begin(), p.signed_headers.end()), p.signed_headers.end());
  for (auto& h : p.signed_headers) p.signed_headers_raw += (p.signed_headers_raw.empty() ? "" : ";") + h;
  auto query = v4_canonical_query(req.raw_query);
  if (!query) throw std::invalid_argument("a request to sign has a malformed query");
  std::string scope = p.date8 + "/" + p.region + "/s3/aws4_request";
  std::string sts = std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope + "\n" +
                    crypto::sha256_hex(canonical_request(req, *query, p, req.headers.get("x-amz-content-sha256")));
  std::string signature = crypto::hex(crypto::hmac_sha256(v4_signing_key(secret, p.date8, p.region, "s3"), sts));
  return std::string(kAlgorithm) + " Credential=" + std::string(access_key) + "/" + scope +
         ", SignedHeaders=" + p.signed_headers_raw + ", Signature=" + signature;
}

namespace detail {

AuthResult v4_header(const http::Request& req, std::string_view authorization, const KeyLookup& keys,
                     int64_t now_ms, const AuthOptions& opts) {
  V4Parts p = parse_authorization(authorization, opts);
  auto [amz_date, t] = request_time(req);
  if (amz_date.substr(0, 8) != p.date8)
    throw S3Error(400, "AuthorizationHeaderMalformed", "Invalid credential date \"" + p.date8 +
                                                           "\". This date is not the same as X-Amz-Date: \"" +
                                                           amz_date.substr(0, 8) + "\".");
  AuthResult r;
  r.access_key = p.access_key;
  r.scheme = Scheme::kV4Header;
  read_payload(req, r);
  std::string secret = secret_of(keys, p.access_key);
  check_skew(t, now_ms, opts);
  auto query = v4_canonical_query(req.raw_query);
  if (!query) throw S3Error(400, "InvalidURI", "Couldn't parse the specified URI.");
  std::string key = check_signature(req, *query, p, amz_date, req.headers.get("x-amz-content-sha256"), secret);
  if (r.payload == Payload::kStreamingSigned)
    r.chunks = ChunkSigning{key, amz_date, p.date8 + "/" + p.region + "/" + p.service + "/aws4_request", p.signature};
  return r;
}

AuthResult v4_query(const http::Request& req, const KeyLookup& keys, int64_t now_ms, const AuthOptions& opts) {
  const std::string code = "AuthorizationQueryParametersError";
  const std::string* alg = param(req, "X-Amz-Algorithm");
  if (!alg || *alg != kAlgorithm)
    throw S3Error(400, code, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  const std::string *cred = param(req, "X-Amz-Credential"), *date = param(req, "X-Amz-Date"),
                    *exp = param(req, "X-Amz-Expires"), *sh = param(req, "X-Amz-SignedHeaders"),
                    *sig = param(req, "X-Amz-Signature");
  if (!cred || !date || !exp || !sh || !sig)
    throw S3Error(400, code, "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                             "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.");
  V4Parts p;
  parse_scope(*cred, *sh, opts, code, p);
  p.signature = *sig;
  auto t = parse_amz_date(*date);
  if (!t) throw S3Error(400, code, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  if (date->substr(0, 8) != p.date8)
    throw S3Error(400, code, "Invalid credential date \"" + p.date8 + "\". This date is not the same as X-Amz-Date.");
  char* end = nullptr;
  long long expires = std::strtoll(exp->c_str(), &end, 10);
  if (exp->empty() || *end || expires < 0)
    throw S3Error(400, code, "X-Amz-Expires should be a number");
  if (expires > kMaxExpires)
    throw S3Error(400, code, "X-Amz-Expires must be less than a week (in seconds) that is; 604800 seconds");
  std::string secret = secret_of(keys, p.access_key);
  if (*t - now_ms > opts.max_skew_ms) throw S3Error(403, "AccessDenied", "Request is not valid yet");
  if (now_ms > *t + expires * 1000) throw expired();
  auto query = v4_canonical_query(req.raw_query, "X-Amz-Signature");
  if (!query) throw S3Error(400, "InvalidURI", "Couldn't parse the specified URI.");
  check_signature(req, *query, p, *date, kUnsigned, secret);
  AuthResult r;
  r.access_key = p.access_key;
  r.scheme = Scheme::kV4Query;
  r.payload = Payload::kUnsigned;
  return r;
}

}  // namespace detail

}  // namespace atelier::s3
