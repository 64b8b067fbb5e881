#include "iam/signer.h"

#include <algorithm>
#include <cctype>

#include "common/crypto.h"

namespace atelier::iam {

static std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ASCII only, as header names and hex are; std::tolower consults the locale.
static std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o)
    if (c >= 'A' && c <= 'Z') c = char(c + ('a' - 'A'));
  return o;
}

// `a` compared case-insensitively with the already lower-case `lower_b`.
static bool equals_lower(std::string_view a, std::string_view lower_b) {
  if (a.size() != lower_b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = char(c + ('a' - 'A'));
    if (c != lower_b[i]) return false;
  }
  return true;
}

static bool unreserved_or_slash(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~' || c == '/';
}

std::optional<AuthorizationHeader> parse_authorization(std::string_view v) {
  static constexpr std::string_view kAlg = "SDK-HMAC-SHA256";
  v = trim(v);
  if (v.substr(0, kAlg.size()) != kAlg || v.size() == kAlg.size() || v[kAlg.size()] != ' ')
    return std::nullopt;
  v.remove_prefix(kAlg.size());
  AuthorizationHeader out;
  bool have_sh = false;
  size_t pos = 0;
  while (pos < v.size()) {
    size_t comma = v.find(',', pos);
    std::string_view part = trim(v.substr(pos, comma == std::string_view::npos ? v.npos : comma - pos));
    pos = comma == std::string_view::npos ? v.size() : comma + 1;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view k = part.substr(0, eq), val = part.substr(eq + 1);
    if (k == "Access") {
      out.access_key = std::string(val);
    } else if (k == "Credential") {
      out.access_key = std::string(val.substr(0, val.find('/')));
    } else if (k == "SignedHeaders") {
      have_sh = true;
      out.signed_headers_raw = std::string(val);
      size_t p = 0;
      while (p <= val.size()) {
        size_t semi = val.find(';', p);
        std::string_view h = val.substr(p, semi == std::string_view::npos ? val.npos : semi - p);
        if (h.empty()) return std::nullopt;
        out.signed_headers.push_back(lower(h));
        if (semi == std::string_view::npos) break;
        p = semi + 1;
      }
    } else if (k == "Signature") {
      out.signature = lower(val);
    }
  }
  if (out.access_key.empty() || !have_sh || out.signature.size() != 64) return std::nullopt;
  return out;
}

std::optional<std::string> canonical_uri(std::string_view raw_path) {
  // Most paths need no escaping at all: they are their own canonical form.
  if (std::all_of(raw_path.begin(), raw_path.end(), unreserved_or_slash)) {
    std::string out(raw_path);
    if (out.empty() || out.back() != '/') out += '/';
    return out;
  }
  std::string decoded;
  if (!http::percent_decode(raw_path, decoded)) return std::nullopt;
  std::string out;
  size_t pos = 0;
  // Split the decoded path, so an encoded %2F is signed as a real '/'.
  while (pos <= decoded.size()) {
    size_t slash = decoded.find('/', pos);
    std::string_view seg(decoded.data() + pos,
                         (slash == std::string::npos ? decoded.size() : slash) - pos);
    out += http::percent_encode(seg);
    if (slash == std::string::npos) break;
    out += '/';
    pos = slash + 1;
  }
  if (out.empty() || out.back() != '/') out += '/';
  return out;
}

std::string canonical_query(std::string_view raw_query, bool lower_keys) {
  std::vector<std::pair<std::string, std::string>> kv;
  size_t pos = 0;
  while (pos < raw_query.size()) {
    size_t amp = raw_query.find('&', pos);
    std::string_view part = raw_query.substr(pos, amp == std::string_view::npos ? raw_query.npos : amp - pos);
    pos = amp == std::string_view::npos ? raw_query.size() : amp + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string k, v;
    if (!http::query_decode(part.substr(0, eq), k)) k = std::string(part.substr(0, eq));
    if (eq != std::string_view::npos && !http::query_decode(part.substr(eq + 1), v))
      v = std::string(part.substr(eq + 1));
    if (lower_keys) k = lower(k);
    kv.emplace_back(http::percent_encode(k), http::percent_encode(v));
  }
  std::sort(kv.begin(), kv.end());
  std::string out;
  for (auto& [k, v] : kv) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string canonical_request(std::string_view method, std::string_view canon_uri,
                              std::string_view canon_query, const http::Headers& headers,
                              const AuthorizationHeader& auth, std::string_view payload_hash) {
  std::string out;
  out.append(method).append("\n").append(canon_uri).append("\n").append(canon_query).append("\n");
  std::vector<std::string_view> vals;
  for (auto& name : auth.signed_headers) {
    vals.clear();
    for (auto& [k, v] : headers.items())
      if (equals_lower(k, name)) vals.push_back(trim(v));
    std::sort(vals.begin(), vals.end());
    if (vals.empty()) vals.emplace_back();
    for (auto v : vals) out.append(name).append(":").append(v).append("\n");
  }
  out.append("\n").append(auth.signed_headers_raw.empty() ? "" : lower(auth.signed_headers_raw));
  out.append("\n").append(payload_hash);
  return out;
}

std::string string_to_sign(std::string_view sdk_date, std::string_view cr) {
  return "SDK-HMAC-SHA256\n" + std::string(sdk_date) + "\n" + crypto::sha256_hex(cr);
}

std::string signature(std::string_view secret, std::string_view sts) {
  return crypto::hex(crypto::hmac_sha256(secret, sts));
}

// SHA-256 of the empty payload, the common case of GET and DELETE.
static constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

bool verify(const http::Request& req, const AuthorizationHeader& auth, std::string_view secret) {
  auto uri = canonical_uri(req.path);
  if (!uri) return false;
  const std::string& date = req.headers.get("X-Sdk-Date");
  std::string payload = req.headers.has("X-Sdk-Content-Sha256")
                            ? std::string(trim(req.headers.get("X-Sdk-Content-Sha256")))
                            : req.body.empty() ? std::string(kEmptySha256) : crypto::sha256_hex(req.body);
  for (bool lower_keys : {false, true}) {
    std::string q = canonical_query(req.raw_query, lower_keys);
    std::string cr = canonical_request(req.method, *uri, q, req.headers, auth, payload);
    if (crypto::equal_ct(signature(secret, string_to_sign(date, cr)), auth.signature)) return true;
    if (q == canonical_query(req.raw_query, true)) break;  // lower-casing changes nothing
  }
  return false;
}

}  // namespace atelier::iam
