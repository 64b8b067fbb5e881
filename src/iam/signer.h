// SDK-HMAC-SHA256 request signing as the official Huawei SDKs do it.
// Pure functions: the Gatekeeper rebuilds the
// canonical request from what arrived and compares signatures.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/http.h"

namespace atelier::iam {

struct AuthorizationHeader {
  std::string access_key;
  std::vector<std::string> signed_headers;  // lower case, as listed
  std::string signed_headers_raw;
  std::string signature;  // lower-case hex
};

// Parses "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex" and the
// older "Credential=AK/date/region/service/sdk_request" form.
std::optional<AuthorizationHeader> parse_authorization(std::string_view value);

// Decode, split on '/', re-encode each segment, always end with '/'.
// Returns nullopt on a malformed percent escape.
std::optional<std::string> canonical_uri(std::string_view raw_path);

// Sorted "k=v&k2=v2" from undecoded query text; `lower_keys` for the Go SDK.
std::string canonical_query(std::string_view raw_query, bool lower_keys);

std::string canonical_request(std::string_view method, std::string_view canon_uri,
                              std::string_view canon_query, const http::Headers& headers,
                              const AuthorizationHeader& auth, std::string_view payload_hash);

std::string string_to_sign(std::string_view sdk_date, std::string_view canonical_request);

// Lower-case hex signature of `sts` under `secret`.
std::string signature(std::string_view secret, std::string_view sts);

// Full check: true when the request carries a valid signature by `secret`.
// The query is tried as sent and then with lower-cased keys, as the Go SDK
// signs them.
bool verify(const http::Request& req, const AuthorizationHeader& auth, std::string_view secret);

}  // namespace atelier::iam
