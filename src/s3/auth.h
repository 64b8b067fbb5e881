// Request authentication of the S3/OBS-compatible object endpoint: which
// access key signed a request, checked against the key's secret (and, for
// the object store's S3 backend, the signing of requests this server sends). Schemes:
// AWS Signature V4 (Authorization header, presigned query, signed streaming
// uploads), AWS Signature V2 (header and query) and the OBS signature (V2
// with x-obs- headers). Pure: it reads an http::Request, asks a callback for
// secrets, and never logs.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.h"
#include "common/error.h"
#include "http/http.h"

namespace atelier::s3 {

// A client-visible refusal: HTTP status, S3 error code (AccessDenied,
// SignatureDoesNotMatch, ...) and message, as the S3 error XML carries them.
class S3Error : public ApiError {
 public:
  using ApiError::ApiError;
};

// What the key store knows of an access key.
struct KeySecret {
  std::string secret;
  bool active = true;
};
// Access key -> its secret, or nullopt when there is no such key.
using KeyLookup = std::function<std::optional<KeySecret>(const std::string& access_key)>;

struct AuthOptions {
  // Regions a SigV4 credential scope may name; empty accepts any.
  std::vector<std::string> regions;
  // Largest difference between the request's time and now.
  int64_t max_skew_ms = 15 * 60 * 1000;
  // Virtual-hosted style: the bucket the Host header named (the endpoint
  // works it out), which V2/OBS signatures put before the path in their
  // resource. Empty for path-style requests.
  std::string host_bucket;
};

enum class Scheme { kV4Header, kV4Query, kV2Header, kV2Query, kObsHeader, kObsQuery };

// What the signature says about the body.
enum class Payload {
  kUnsigned,         // UNSIGNED-PAYLOAD, presigned, and every V2/OBS request
  kSha256,           // the body must hash to payload_sha256 (the endpoint checks)
  kStreamingSigned,  // aws-chunked body, each chunk signed: see ChunkDecoder
};

// The SigV4 context a signed streaming upload's chunks are signed in.
struct ChunkSigning {
  std::string signing_key;     // raw HMAC key of the day/region/service
  std::string amz_date;        // "20130524T000000Z"
  std::string scope;           // "20130524/us-east-1/s3/aws4_request"
  std::string seed_signature;  // the request's own signature (hex)
};

struct AuthResult {
  std::string access_key;
  Scheme scheme = Scheme::kV4Header;
  Payload payload = Payload::kUnsigned;
  std::string payload_sha256;          // kSha256: lower-case hex the body must match
  std::optional<ChunkSigning> chunks;  // kStreamingSigned
  int64_t decoded_content_length = -1;  // kStreamingSigned: x-amz-decoded-content-length
};

// True when the request carries credentials of some scheme (an Authorization
// header, or X-Amz-Credential / AWSAccessKeyId / AccessKeyId in the query).
bool has_credentials(const http::Request& req);

// Verifies the request's signature. Returns who signed it; throws S3Error
// otherwise (AccessDenied when it carries no credentials).
AuthResult authenticate(const http::Request& req, const KeyLookup& keys, int64_t now_ms,
                        const AuthOptions& opts = {});

// ---- canonical forms, exposed for tests and for the endpoint's own use.

// SigV4 canonical URI of a raw (percent-encoded) path as S3 computes it:
// each '/'-separated segment decoded and re-encoded once (RFC 3986
// unreserved characters kept, upper-case hex), nothing normalized.
// Nullopt on a malformed escape.
std::optional<std::string> v4_canonical_uri(std::string_view raw_path);
// SigV4 canonical query of raw query text: pairs decoded and re-encoded,
// sorted by key then value, `skip` (X-Amz-Signature) left out.
std::optional<std::string> v4_canonical_query(std::string_view raw_query, std::string_view skip = {});
// "20130524T000000Z" or an RFC 1123 date ("Fri, 24 May 2013 00:00:00 GMT")
// to epoch ms.
std::optional<int64_t> parse_amz_date(std::string_view s);
std::optional<int64_t> parse_http_date(std::string_view s);
// The SigV4 signing key of secret/date/region/service (raw bytes).
std::string v4_signing_key(std::string_view secret, std::string_view date8, std::string_view region,
                           std::string_view service);

// The other side: the Authorization header value (AWS4-HMAC-SHA256) that
// signs `req` for `region` with every header it carries, for requests this
// server sends to an S3 service (the object store's S3 backend). The path
// and query are taken as they go on the wire (percent-encoded).
// REQUIRES: `req` carries Host, X-Amz-Date ("20130524T000000Z") and
// X-Amz-Content-SHA256 (a hex digest or UNSIGNED-PAYLOAD); throws
// std::invalid_argument otherwise. The secret appears in no message.
std::string v4_authorization(const http::Request& req, std::string_view access_key, std::string_view secret,
                             std::string_view region);

// Verifies the signatures of an aws-chunked body's chunks, one after the
// other: each signs its data's hash chained to the previous signature.
class ChunkVerifier {
 public:
  explicit ChunkVerifier(ChunkSigning signing);
  // True when `signature` (hex) signs a chunk whose data hashes to
  // `data_sha256_hex`; the chain then moves on to this signature.
  bool verify(std::string_view data_sha256_hex, std::string_view signature);
  const std::string& previous_signature() const { return previous_; }

 private:
  ChunkSigning signing_;
  std::string previous_;
};

// Incremental decoder of a signed aws-chunked body
// ("<hex size>;chunk-signature=<sig>\r\n<data>\r\n" ..., ending with a
// zero-size chunk). feed() takes slices of any size and hands chunk data
// to the sink as it arrives, before that chunk's signature can be checked:
// the caller must keep what it wrote provisional until finish() returns.
// Throws S3Error: SignatureDoesNotMatch for a bad chunk signature,
// IncompleteBody / InvalidRequest for broken framing or sizes that disagree
// with the decoded length.
class ChunkDecoder {
 public:
  using Sink = std::function<void(std::string_view)>;
  // decoded_length: x-amz-decoded-content-length, or -1 when not given.
  ChunkDecoder(ChunkSigning signing, int64_t decoded_length, Sink sink);
  void feed(std::string_view bytes);
  // The body ended: throws unless the final chunk arrived and was verified.
  void finish();
  bool done() const { return state_ == State::kDone; }
  int64_t decoded_bytes() const { return decoded_; }

 private:
  enum class State { kHeader, kData, kDataCr, kDataLf, kFinalCr, kFinalLf, kDone };
  void header_line(std::string_view line);
  void end_chunk();

  ChunkVerifier verifier_;
  int64_t decoded_length_;
  Sink sink_;
  State state_ = State::kHeader;
  std::string line_;        // header line being gathered
  std::string signature_;   // of the current chunk
  int64_t remaining_ = 0;   // data bytes left in the current chunk
  int64_t decoded_ = 0;
  bool final_ = false;      // the current chunk is the zero-size one
  crypto::Sha256 hash_;
};

}  // namespace atelier::s3
