// Our own HTTP types. Beast and Asio never leave server.cc; everything else in
// Atelier speaks Request and Response.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atelier::http {

// Header names compare case-insensitively; order of arrival is kept.
class Headers {
 public:
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  void set(std::string name, std::string value);
  // First value of `name`, or empty. `has` tells an empty value from absence.
  const std::string& get(std::string_view name) const;
  bool has(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct Request {
  std::string method;     // upper case
  std::string target;     // as received: path?query
  std::string path;       // raw (still percent-encoded) path part of target
  std::string raw_query;  // after '?', undecoded
  Headers headers;
  std::string body;
  std::string remote_addr;
  std::string request_id;  // set by the server before dispatch
  // True while the body is still on the wire: the server's header hook
  // (server.h) sees the request this way and decides how the body is read.
  bool body_pending = false;

  // Decoded query pairs in arrival order (see query_decode).
  std::vector<std::pair<std::string, std::string>> query() const;
  // First value of a query parameter.
  const std::string* query_param(std::string_view key) const;

 private:
  mutable bool query_parsed_ = false;
  mutable std::vector<std::pair<std::string, std::string>> query_;
};

// Where a handler hands a request on: a service the server started on this
// host or a cluster node (a notebook's Jupyter, a TensorBoard). The server
// connects to host:port, sends the request with `target` and `headers`
// (hop-by-hop headers dropped; the handler leaves out the caller's
// credentials), and streams the answer back as it arrives, so a large
// download never sits in memory. A WebSocket upgrade that the service
// accepts becomes a byte pipe both ways until either side closes.
struct Upstream {
  std::string host;
  uint16_t port = 0;
  std::string target;
  Headers headers;
  std::string error_code = "ModelArts.0010";  // of the 502/504 when it cannot be reached
  // Called from the I/O thread whenever bytes pass either way (activity for
  // idle detection): keep it cheap.
  std::function<void()> on_traffic;
};

// A response body produced piece by piece, so that a large download never
// sits in memory. The server calls read() on its I/O thread (disk reads are
// fine there) until it returns 0 or Response::content_length bytes came.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Copies up to `cap` bytes into `buf` and returns how many; 0 is the end.
  // Throws on failure: once the headers are sent, that aborts the connection
  // (the client sees a short body); before that, the request gets a 500.
  virtual size_t read(char* buf, size_t cap) = 0;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  bool head_only = false;  // HEAD: keep Content-Length of the would-be body, send none
  std::shared_ptr<const Upstream> upstream;  // set: the server relays instead of sending this
  // Set: the body comes from here instead of `body`, with Content-Length
  // `content_length` when known, else chunked. A source that ends early
  // aborts the connection rather than let the client wait for the rest.
  std::shared_ptr<BodySource> source;
  std::optional<uint64_t> content_length;
};

// Where a request body goes when it is not to be held in memory (an upload
// of gigabytes). The server calls write() on its I/O thread as pieces
// arrive, then exactly one of finish() (the whole body came) or abort() (it
// will not: the client left, stalled, or broke a limit).
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Throws to refuse the rest: the request gets refused() (a 500 when that
  // is empty), the connection closes, and abort() follows.
  virtual void write(const char* data, size_t n) = 0;
  // After write() threw: the answer the client gets (the sink words its
  // own refusals, a full disk or a bad signature); empty for a plain 500.
  virtual std::optional<Response> refused() { return std::nullopt; }
  // The answer to the request; a throw becomes a 500.
  virtual Response finish() = 0;
  // Releases whatever the partial body left behind (a temporary file, say).
  virtual void abort(std::string_view /*why*/) noexcept {}
};

// What the server's header hook decides for a request whose body is still
// pending: read it into Request::body as usual (neither member set), stream
// it to `sink`, or answer `refusal` without reading it.
struct BodyPlan {
  std::shared_ptr<BodySink> sink;
  std::optional<Response> refusal;

  static BodyPlan buffer() { return {}; }
  static BodyPlan stream(std::shared_ptr<BodySink> s) { return {std::move(s), std::nullopt}; }
  static BodyPlan refuse(Response r) { return {nullptr, std::move(r)}; }
};

// The request's headers as a service behind the server should see them:
// without X-Auth-Token, Authorization and the server's session cookie.
Headers headers_for_upstream(const Request& req);

using Handler = std::function<Response(Request&)>;
// Sees a request once its headers are read (body empty, body_pending set).
// The buffered case hands the Handler this same Request object afterwards.
using HeaderHook = std::function<BodyPlan(Request&)>;

// Percent-decoding; returns false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);
// Decoding of a query-string key or value: '+' is a space (form encoding,
// as Python's requests sends it; a literal '+' arrives as %2B), then %XX.
bool query_decode(std::string_view in, std::string& out);
// Percent-encodes all but RFC 3986 unreserved characters, upper-case hex.
std::string percent_encode(std::string_view in);

const char* reason_phrase(int status);

}  // namespace atelier::http
