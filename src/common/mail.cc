#include "common/mail.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "common/clock.h"
#include "common/ids.h"

namespace atelier::mail {

namespace {

struct Reader {
  std::string data;
  size_t pos = 0;
};

size_t read_cb(char* buf, size_t size, size_t n, void* ud) {
  auto* r = static_cast<Reader*>(ud);
  size_t k = std::min(size * n, r->data.size() - r->pos);
  std::copy_n(r->data.data() + r->pos, k, buf);
  r->pos += k;
  return k;
}

// A header value without line breaks (no header injection from a task name).
std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

// RFC 2047 encoded-word when the text is not plain ASCII.
std::string header_text(const std::string& s) {
  bool ascii = true;
  for (unsigned char c : s) ascii = ascii && c < 0x80;
  if (ascii) return one_line(s);
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string t = one_line(s), out;
  for (size_t i = 0; i < t.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(t[i])) << 16 | (i + 1 < t.size() ? uint32_t(uint8_t(t[i + 1])) << 8 : 0) |
                 (i + 2 < t.size() ? uint8_t(t[i + 2]) : 0);
    out += b64[v >> 18 & 63];
    out += b64[v >> 12 & 63];
    out += i + 1 < t.size() ? b64[v >> 6 & 63] : '=';
    out += i + 2 < t.size() ? b64[v & 63] : '=';
  }
  return "=?UTF-8?B?" + out + "?=";
}

}  // namespace

void send(const Smtp& smtp, const Message& m) {
  if (smtp.url.empty()) throw std::runtime_error("no SMTP server is configured");
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("cannot make an SMTP client");
  Reader r;
  std::string body = m.body;
  // Lines of the body end in CRLF; a line that is a lone dot is escaped by libcurl.
  std::string crlf;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) crlf += '\r';
    crlf += body[i];
  }
  r.data = "Date: " + clock::rfc1123(clock::now_ms()) + "\r\n" + "To: <" + one_line(m.to) + ">\r\n" + "From: <" +
           one_line(smtp.from) + ">\r\n" + "Message-ID: <" + ids::hex32() + "@atelier>\r\n" + "Subject: " +
           header_text(m.subject) + "\r\n" + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n" +
           "Content-Transfer-Encoding: 8bit\r\n\r\n" + crlf + "\r\n";
  CURL* c = curl.get();
  curl_slist* rcpt = curl_slist_append(nullptr, ("<" + one_line(m.to) + ">").c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> rcpts(rcpt, curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_URL, smtp.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, ("<" + one_line(smtp.from) + ">").c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts.get());
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(c, CURLOPT_READDATA, &r);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_INFILESIZE, long(r.data.size()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  // STARTTLS required when asked; tried whenever a password is to be sent.
  if (smtp.starttls) curl_easy_setopt(c, CURLOPT_USE_SSL, long(CURLUSESSL_ALL));
  else if (!smtp.user.empty()) curl_easy_setopt(c, CURLOPT_USE_SSL, long(CURLUSESSL_TRY));
  if (!smtp.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, smtp.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, smtp.password.c_str());
  }
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) throw std::runtime_error(err[0] ? err : curl_easy_strerror(rc));
}

}  // namespace atelier::mail
