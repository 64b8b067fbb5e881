// AWS Signature V2 and the OBS signature (the same scheme with x-obs-
// headers): base64(HMAC-SHA1(secret, StringToSign)), in the Authorization
// header or in the query.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>

#include "common/crypto.h"
#include "s3/auth.h"
#include "s3/auth_internal.h"

namespace atelier::s3 {

using detail::trim;

namespace {

// Query parameters that name a sub-resource: part of the signed resource.
// S3's list (with botocore's), and OBS's.
const std::set<std::string, std::less<>>& sub_resources() {
  static const std::set<std::string, std::less<>> s = {
      "accelerate", "acl", "analytics", "append", "apiversion", "attname", "backtosource", "cors",
      "customdomain", "defaultObjectAcl", "delete", "deletebucket", "encryption", "inventory", "legal-hold",
      "length", "lifecycle", "location", "logging", "metadata", "metrics", "modify", "name", "notification",
      "object-lock", "partNumber", "policy", "position", "quota", "rename", "replication", "requestPayment",
      "response-cache-control", "response-content-disposition", "response-content-encoding",
      "response-content-language", "response-content-type", "response-expires", "restore", "retention",
      "select", "select-type", "storageClass", "storagePolicy", "storageinfo", "tagging", "torrent", "truncate",
      "uploadId", "uploads", "versionId", "versioning", "versions", "website", "x-image-process",
      "x-image-save-bucket", "x-image-save-object", "x-obs-security-token"};
  return s;
}

// "/bucket/key?acl&uploadId=x": the path as sent (after the Host's bucket,
// virtual-hosted style) and the sub-resources among the query, sorted by
// name, values decoded.
// `bucket_slash`: a path naming only a bucket ("/bucket") is signed as
// "/bucket/" (botocore does; OBS clients sign "/bucket").
std::string canonical_resource(const http::Request& req, const AuthOptions& opts, bool bucket_slash) {
  std::string out = opts.host_bucket.empty() ? "" : "/" + opts.host_bucket;
  out += req.path.empty() ? "/" : req.path;
  if (bucket_slash && out.size() > 1 && out.find('/', 1) == std::string::npos) out += '/';
  std::vector<std::pair<std::string, std::optional<std::string>>> subs;
  std::string_view q = req.raw_query;
  size_t pos = 0;
  while (!q.empty()) {
    size_t amp = q.find('&', pos);
    std::string_view part = q.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    size_t eq = part.find('=');
    std::string_view name = part.substr(0, eq);
    if (sub_resources().count(name)) {
      std::optional<std::string> v;
      if (eq != std::string_view::npos) {
        v.emplace();
        if (!http::percent_decode(part.substr(eq + 1), *v)) *v = std::string(part.substr(eq + 1));
      }
      subs.emplace_back(std::string(name), std::move(v));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  std::stable_sort(subs.begin(), subs.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < subs.size(); ++i) {
    out += (i ? "&" : "?") + subs[i].first;
    if (subs[i].second) out += "=" + *subs[i].second;
  }
  return out;
}

// "x-amz-meta-a:v\n..." for every header with `prefix`: names lower case,
// sorted, repeated values joined with ','.
std::string canonical_headers(const http::Headers& headers, std::string_view prefix) {
  std::map<std::string, std::string> h;
  for (auto& [name, value] : headers.items()) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (lower.rfind(prefix, 0) != 0) continue;
    auto [it, fresh] = h.emplace(lower, std::string(trim(value)));
    if (!fresh) it->second += "," + std::string(trim(value));
  }
  std::string out;
  for (auto& [k, v] : h) out += k + ":" + v + "\n";
  return out;
}

std::string string_to_sign(const http::Request& req, std::string_view date_line, bool obs, const AuthOptions& opts,
                           bool bucket_slash) {
  return req.method + "\n" + req.headers.get("Content-MD5") + "\n" + req.headers.get("Content-Type") + "\n" +
         std::string(date_line) + "\n" + canonical_headers(req.headers, obs ? "x-obs-" : "x-amz-") +
         canonical_resource(req, opts, bucket_slash);
}

// The signature of either form of a bucket's resource (see canonical_resource).
void check_signature(const http::Request& req, std::string_view date_line, bool obs, const AuthOptions& opts,
                     const std::string& secret, std::string_view signature) {
  for (bool slash : {false, true})
    if (crypto::equal_ct(crypto::base64(crypto::hmac_sha1(secret, string_to_sign(req, date_line, obs, opts, slash))),
                         signature))
      return;
  throw detail::signature_mismatch();
}

}  // namespace

namespace detail {

AuthResult v2_header(const http::Request& req, std::string_view authorization, bool obs, const KeyLookup& keys,
                     int64_t now_ms, const AuthOptions& opts) {
  std::string_view cred = trim(authorization.substr(4));  // after "AWS " or "OBS "
  size_t colon = cred.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == cred.size())
    throw S3Error(400, "InvalidArgument", "Authorization header is invalid -- one and only one ' ' (space) required");
  std::string access(cred.substr(0, colon));
  std::string_view signature = cred.substr(colon + 1);
  // A date header of the scheme takes the place of Date, which is then signed empty.
  const char* own_date = obs ? "x-obs-date" : "x-amz-date";
  bool own = req.headers.has(own_date);
  const std::string& date = own ? req.headers.get(own_date) : req.headers.get("Date");
  auto t = parse_http_date(date);
  if (!t) throw S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
  std::string secret = secret_of(keys, access);
  check_skew(*t, now_ms, opts);
  check_signature(req, own ? "" : date, obs, opts, secret, signature);
  AuthResult r;
  r.access_key = access;
  r.scheme = obs ? Scheme::kObsHeader : Scheme::kV2Header;
  return r;
}

AuthResult v2_query(const http::Request& req, bool obs, const KeyLookup& keys, int64_t now_ms,
                    const AuthOptions& opts) {
  const std::string* access = param(req, obs ? "AccessKeyId" : "AWSAccessKeyId");
  const std::string *exp = param(req, "Expires"), *sig = param(req, "Signature");
  if (!access || !exp || !sig)
    throw S3Error(403, "AccessDenied", "Query-string authentication requires the Signature, Expires and " +
                                           std::string(obs ? "AccessKeyId" : "AWSAccessKeyId") + " parameters");
  char* end = nullptr;
  long long expires = std::strtoll(exp->c_str(), &end, 10);
  if (exp->empty() || *end) throw S3Error(403, "AccessDenied", "Invalid date (should be seconds since epoch): " + *exp);
  std::string secret = secret_of(keys, *access);
  if (now_ms > expires * 1000) throw expired();
  // A '+' of the base64 signature left unescaped arrives decoded as a space.
  std::string signature = *sig;
  std::replace(signature.begin(), signature.end(), ' ', '+');
  check_signature(req, *exp, obs, opts, secret, signature);
  AuthResult r;
  r.access_key = *access;
  r.scheme = obs ? Scheme::kObsQuery : Scheme::kV2Query;
  return r;
}

}  // namespace detail

}  // namespace atelier::s3
