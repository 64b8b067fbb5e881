// Our own HTTP types. Beast and Asio never leave server.cc; everything else in
// Atelier speaks Request and Response.
#pragma once
#include <functional>
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

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  bool head_only = false;  // HEAD: keep Content-Length of the would-be body, send none
};

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
