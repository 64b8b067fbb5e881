#include "obs/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <pugixml.hpp>
#include <random>
#include <thread>

#include "common/crypto.h"
#include "common/error.h"
#include "s3/auth.h"

namespace atelier::obs {

namespace {

// Bodies up to this size have their SHA-256 signed; larger ones go as
// UNSIGNED-PAYLOAD (hashing 8 MiB parts would cost more than their Content-MD5,
// which the service checks anyway).
constexpr size_t kSignedPayloadMax = 1 << 20;
constexpr size_t kMaxIdle = 16;  // connections kept between requests

std::string amz_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// What a transfer collects; also what the callbacks read the body from.
struct Exchange {
  S3Answer* answer;
  std::string_view body;
  size_t sent = 0;
  uint64_t max_body;
  bool cut = false;  // stopped at the end of the headers: the answer has no body (empty_range)
};

size_t on_read(char* buf, size_t size, size_t n, void* ud) {
  auto* x = static_cast<Exchange*>(ud);
  size_t k = std::min(size * n, x->body.size() - x->sent);
  std::copy_n(x->body.data() + x->sent, k, buf);
  x->sent += k;
  return k;
}

// Lets curl send the body again from its start (a redirect or an
// authentication retry of its own).
int on_seek(void* ud, curl_off_t offset, int origin) {
  auto* x = static_cast<Exchange*>(ud);
  if (origin != SEEK_SET || offset < 0 || size_t(offset) > x->body.size()) return CURL_SEEKFUNC_FAIL;
  x->sent = size_t(offset);
  return CURL_SEEKFUNC_OK;
}

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  auto* x = static_cast<Exchange*>(ud);
  if (x->answer->body.size() + size * n > x->max_body) {
    x->answer->too_large = true;
    x->answer->body.clear();
    return 0;  // stops the transfer (CURLE_WRITE_ERROR)
  }
  x->answer->body.append(p, size * n);
  return size * n;
}

// A 206 of a range of an empty object announces a body the object cannot
// have (s3rver says "bytes 0-0/0" and a length of 1, then sends nothing):
// the transfer stops at the end of the headers instead of waiting for it.
bool empty_range(const S3Answer& a) {
  const std::string& range = a.headers.get("Content-Range");
  return a.status == 206 && range.size() > 2 && range.compare(range.size() - 2, 2, "/0") == 0;
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* x = static_cast<Exchange*>(ud);
  auto* a = x->answer;
  std::string_view line(p, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {  // a status line: a new answer (after a 100 Continue, say)
    a->headers = http::Headers();
    size_t sp = line.find(' ');
    a->status = sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    return size * n;
  }
  if (line.empty() && empty_range(*a)) {
    x->cut = true;
    return 0;  // stops the transfer (CURLE_WRITE_ERROR)
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  a->headers.add(std::string(line.substr(0, colon)), std::string(value));
  return size * n;
}

// The code and message of an S3 error body (<Error><Code>..</Code>...).
void read_error(S3Answer& a) {
  pugi::xml_document doc;
  if (a.body.empty() || !doc.load_buffer(a.body.data(), a.body.size())) return;
  pugi::xml_node e = doc.child("Error");
  a.code = e.child("Code").text().get();
  a.message = e.child("Message").text().get();
}

// Failures after which the request surely never reached the service.
bool nothing_sent(int rc) { return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST; }

// Failures that another try would meet again: a certificate not trusted,
// a CA file that cannot be read.
bool lasting(int rc) {
  return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
         rc == CURLE_UNSUPPORTED_PROTOCOL;
}

// Answers that may well be different a moment later: the service busy,
// restarting or behind a gateway that is (not 501 NotImplemented, say).
bool transient(int status) { return status == 429 || status == 500 || status == 502 || status == 503 || status == 504; }

}  // namespace

struct S3Client::Handle {
  CURL* curl = curl_easy_init();
  ~Handle() {
    if (curl) curl_easy_cleanup(curl);
  }
};

std::string encode_key(std::string_view key) {
  std::string out;
  size_t pos = 0;
  for (size_t slash; (slash = key.find('/', pos)) != std::string_view::npos; pos = slash + 1)
    out += http::percent_encode(key.substr(pos, slash - pos)) + "/";
  return out + http::percent_encode(key.substr(pos));
}

S3Client::S3Client(S3Endpoint e) : e_(std::move(e)) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  bool v6 = e_.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + e_.host + "]" : e_.host;
  bool tls = e_.settings.tls;
  host_header_ = host;
  if (e_.port != (tls ? 443 : 80)) host_header_ += ":" + std::to_string(e_.port);
  base_ = (tls ? "https://" : "http://") + host + ":" + std::to_string(e_.port);
}

S3Client::~S3Client() = default;

std::unique_ptr<S3Client::Handle> S3Client::take() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  if (!h->curl) throw std::runtime_error("cannot make an HTTP client for the object store");
  return h;
}

void S3Client::give_back(std::unique_ptr<Handle> h) {
  std::lock_guard<std::mutex> l(mu_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(h));
}

std::string S3Client::target(const S3Call& c) const {
  std::string path = "/";
  if (!c.bucket.empty()) path += c.bucket;
  if (!c.key.empty()) path += "/" + encode_key(c.key);
  std::string query;
  for (auto& [k, v] : c.query) query += (query.empty() ? "?" : "&") + http::percent_encode(k) + "=" + http::percent_encode(v);
  return path + query;
}

// One try of the call on the handle's connection (reused when the service
// kept it open). The request is signed afresh: its date is now.
int S3Client::perform(Handle& h, const S3Call& c, S3Answer& a) {
  CURL* curl = h.curl;
  curl_easy_reset(curl);  // keeps the connection
  http::Request req;
  req.method = c.method;
  req.target = target(c);
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.raw_query = q == std::string::npos ? "" : req.target.substr(q + 1);
  req.headers.add("Host", host_header_);
  req.headers.add("X-Amz-Date", amz_now());
  req.headers.add("X-Amz-Content-SHA256",
                  c.body.size() <= kSignedPayloadMax ? crypto::sha256_hex(c.body) : "UNSIGNED-PAYLOAD");
  for (auto& [name, value] : c.headers) req.headers.add(name, value);
  std::string auth = s3::v4_authorization(req, e_.settings.access_key, e_.settings.secret_key, e_.settings.region);

  curl_slist* list = nullptr;
  for (auto& [name, value] : req.headers.items())
    list = curl_slist_append(list, (value.empty() ? name + ";" : name + ": " + value).c_str());
  list = curl_slist_append(list, ("Authorization: " + auth).c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(list, curl_slist_free_all);

  Exchange x{&a, c.body, 0, c.max_body};
  std::string url = base_ + req.target;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  // Keys are opaque: "a/../b" is a key, not a path for curl to simplify.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, e_.settings.tls ? "https" : "http");
  if (e_.settings.tls && !e_.settings.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, e_.settings.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // never through an http_proxy of the environment
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(e_.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, std::max(1L, long(e_.stall_timeout_ms / 1000)));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  if (c.method == "PUT" || c.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, curl_off_t(c.body.size()));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &x);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &x);
  }
  if (c.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (c.method != "GET" && c.method != "PUT" && c.method != "HEAD") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c.method.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  a.status = int(status);
  if (rc == CURLE_WRITE_ERROR && (a.too_large || x.cut)) return CURLE_OK;
  return rc;
}

S3Answer S3Client::send(const S3Call& c) {
  static thread_local std::minstd_rand jitter(std::random_device{}());
  std::string last;
  int attempts = std::max(1, e_.attempts), tries = 0;
  for (int i = 0; i < attempts; ++i) {
    ++tries;
    if (i > 0) {  // half the wait fixed, half random: the tries of many threads spread out
      int64_t cap = e_.first_backoff_ms << std::min(i - 1, 16);
      std::this_thread::sleep_for(std::chrono::milliseconds(cap / 2 + int64_t(jitter() % uint64_t(cap / 2 + 1))));
    }
    S3Answer a;
    auto h = take();
    int rc = perform(*h, c, a);
    if (rc != CURLE_OK) {
      // The connection is suspect: it goes with the handle.
      last = curl_easy_strerror(CURLcode(rc));
      if (lasting(rc) || (!c.idempotent && !nothing_sent(rc))) break;
      continue;
    }
    give_back(std::move(h));
    if (a.status >= 300) read_error(a);
    if (transient(a.status) && c.idempotent) {
      last = "it answered " + std::to_string(a.status) + (a.code.empty() ? "" : " " + a.code);
      continue;
    }
    if (transient(a.status))
      throw ApiError(503, "ServiceUnavailable", "The object store at " + base_ + " failed: it answered " +
                                                    std::to_string(a.status) + (a.code.empty() ? "" : " " + a.code));
    return a;
  }
  throw ApiError(503, "ServiceUnavailable", "The object store at " + base_ + " is unavailable (" + last + ", " +
                                                std::to_string(tries) + (tries == 1 ? " try)" : " tries)"));
}

}  // namespace atelier::obs
