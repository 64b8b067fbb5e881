#include "http/proxy.h"

#include <curl/curl.h>
#include <strings.h>

#include <memory>
#include <mutex>

#include "common/error.h"
#include "http/router.h"

namespace atelier::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Headers that belong to one connection (RFC 9110 §7.6.1) or that libcurl
// and our server set themselves. Host passes: the upstream builds its links
// and redirects from it.
bool hop_by_hop(std::string_view name) {
  for (const char* h : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                        "Content-Length", "Expect"})
    if (iequals(name, h)) return true;
  return false;
}

// The request's Cookie header without the server's own session cookie.
std::string other_cookies(const std::string& line) {
  std::string out;
  std::string_view rest = line;
  while (!rest.empty()) {
    size_t semi = rest.find(';');
    std::string_view pair = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.empty() || pair.rfind(std::string(kSessionCookie) + "=", 0) == 0) continue;
    if (!out.empty()) out += "; ";
    out += pair;
  }
  return out;
}

struct Upstream {
  Response resp;
  bool status_seen = false;
};

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  static_cast<Upstream*>(ud)->resp.body.append(p, size * n);
  return size * n;
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* up = static_cast<Upstream*>(ud);
  std::string_view line(p, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {  // a status line: a new response (after a 100 Continue, say)
    up->resp.headers = Headers();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (!hop_by_hop(name)) up->resp.headers.add(std::string(name), std::string(value));
  return size * n;
}

}  // namespace

Response forward(const Request& req, const std::string& url, const std::string& code, long timeout_ms) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw ApiError(502, code, "The viewer's service cannot be reached.");
  curl_slist* list = nullptr;
  for (auto& [name, value] : req.headers.items()) {
    if (hop_by_hop(name) || iequals(name, "X-Auth-Token") || iequals(name, "Authorization")) continue;
    std::string v = iequals(name, "Cookie") ? other_cookies(value) : value;
    if (iequals(name, "Cookie") && v.empty()) continue;
    list = curl_slist_append(list, (name + ": " + v).c_str());
  }
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(list, curl_slist_free_all);
  Upstream up;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  if (req.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &up);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &up);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // never through an http_proxy of the environment
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, nullptr);  // bodies pass through as they are
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OPERATION_TIMEDOUT) throw ApiError(504, code, "The viewer's service did not answer in time.");
  if (rc != CURLE_OK) throw ApiError(502, code, std::string("The viewer's service cannot be reached: ") + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  up.resp.status = int(status);
  return std::move(up.resp);
}

}  // namespace atelier::http
