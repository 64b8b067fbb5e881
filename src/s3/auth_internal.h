// Shared steps of the signature schemes in src/s3 (not for other modules).
#pragma once
#include <string>
#include <string_view>

#include "s3/auth.h"

namespace atelier::s3::detail {

// Each scheme verifies one kind of request; all throw S3Error on refusal.
AuthResult v4_header(const http::Request& req, std::string_view authorization, const KeyLookup& keys,
                     int64_t now_ms, const AuthOptions& opts);
AuthResult v4_query(const http::Request& req, const KeyLookup& keys, int64_t now_ms, const AuthOptions& opts);
// obs: the OBS flavour (x-obs- headers, "OBS " / AccessKeyId).
AuthResult v2_header(const http::Request& req, std::string_view authorization, bool obs, const KeyLookup& keys,
                     int64_t now_ms, const AuthOptions& opts);
AuthResult v2_query(const http::Request& req, bool obs, const KeyLookup& keys, int64_t now_ms,
                    const AuthOptions& opts);

// The secret of an active key; InvalidAccessKeyId otherwise.
std::string secret_of(const KeyLookup& keys, const std::string& access_key);
// RequestTimeTooSkewed unless |t - now| <= max skew.
void check_skew(int64_t t_ms, int64_t now_ms, const AuthOptions& opts);
S3Error signature_mismatch();
S3Error expired();
// Whitespace (space, tab) off both ends.
std::string_view trim(std::string_view s);
// The value of a query parameter as sent, decoded; nullptr when absent.
const std::string* param(const http::Request& req, std::string_view key);

}  // namespace atelier::s3::detail
