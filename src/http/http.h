// Our own HTTP types. Beast and Asio never leave server.cc; everything else in
// Atelier speaks Request and Response.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
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

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  bool head_only = false;  // HEAD: keep Content-Length of the would-be body, send none
  std::shared_ptr<const Upstream> upstream;  // set: the server relays instead of sending this
};

// The request's headers as a service behind the server should see them:
// without X-Auth-Token, Authorization and the server's session cookie.
Headers headers_for_upstream(const Request& req);

using Handler = std::function<Response(Request&)>;

// Percent-decoding; returns false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);
// Decoding of a query-string key or value: '+' is a space (form encoding,
// as Python's requests sends it; a literal '+' arrives as %2B), then %XX.
bool query_decode(std::string_view in, std::string& out);
// Percent-encodes all but RFC 3986 unreserved characters, upper-case hex.
std::string percent_encode(std::string_view in);

const char* reason_phrase(int status);

}  // namespace atelier::http
