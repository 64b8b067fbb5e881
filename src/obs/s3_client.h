// The HTTP side of the object store's S3 backend (s3_store.cc): requests to
// an S3-compatible service, path style (/bucket/key), signed with AWS
// Signature V4, over connections kept alive between requests, retried with
// exponential backoff when the service is unreachable or busy. Bodies both
// ways are whole strings: the backend cuts objects into parts and ranges of
// a few MiB, so no request or answer holds more.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/http.h"
#include "obs/object_store.h"

namespace atelier::obs {

// Where the service is and how to reach it.
struct S3Endpoint {
  std::string host;  // a name or address; an IPv6 address without brackets
  uint16_t port = 0;
  RemoteSettings settings;
  // Tries a request is given when the service cannot be reached, times out
  // or answers 429, 500, 502, 503 or 504; waits double from
  // first_backoff_ms between them.
  int attempts = 6;
  int64_t first_backoff_ms = 100;
  int64_t connect_timeout_ms = 5000;
  // A transfer moving no byte for this long has failed (and may be tried again).
  int64_t stall_timeout_ms = 60000;
};

struct S3Call {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  S3Call(std::string m, std::string b = "", std::string k = "", Pairs q = {})
      : method(std::move(m)), bucket(std::move(b)), key(std::move(k)), query(std::move(q)) {}
  std::string method;
  std::string bucket, key;  // both empty: the service; key empty: the bucket
  // Decoded names and values ("uploads" with an empty value is ?uploads=).
  Pairs query;
  // Sent and signed beside Host, X-Amz-Date and X-Amz-Content-SHA256. An
  // empty value is sent as an empty header.
  Pairs headers;
  std::string_view body;  // must outlive the call
  // Whether sending the request twice does no harm: only such a request is
  // tried again once it may have reached the service.
  bool idempotent = true;
  // An answer body larger than this stops the transfer (S3Answer::too_large).
  uint64_t max_body = uint64_t(16) << 20;
};

struct S3Answer {
  int status = 0;
  http::Headers headers;
  std::string body;
  bool too_large = false;  // the body was over S3Call::max_body and is not there
  // Of an error answer (status 300 and up): the S3 error's code and message
  // when its body says them.
  std::string code, message;
};

// REQUIRES: safe to use from many threads at once; each request takes a
// connection of its own from a small pool and gives it back when done.
class S3Client {
 public:
  explicit S3Client(S3Endpoint e);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends `c` and returns the service's answer, whatever its status (after
  // retries: see S3Endpoint::attempts). Throws ApiError 503
  // ServiceUnavailable when the service cannot be reached or is still busy
  // or failing (429, 500, 502-504) after every try; the message names the
  // endpoint, never the credentials.
  S3Answer send(const S3Call& c);
  // "http://host:port", for messages.
  const std::string& where() const { return base_; }
  const S3Endpoint& endpoint() const { return e_; }

 private:
  struct Handle;
  std::unique_ptr<Handle> take();
  void give_back(std::unique_ptr<Handle> h);
  // One try: fills `a`; returns the curl result (0 when an answer came).
  int perform(Handle& h, const S3Call& c, S3Answer& a);
  std::string target(const S3Call& c) const;

  S3Endpoint e_;
  std::string base_, host_header_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

// Percent-encodes a key for a request path: each '/'-separated segment
// encoded as SigV4 wants it (unreserved characters kept), the slashes kept.
std::string encode_key(std::string_view key);

}  // namespace atelier::obs
