#include "http/http.h"

#include <strings.h>

namespace atelier::http {

static bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

void Headers::set(std::string name, std::string value) {
  for (auto it = items_.begin(); it != items_.end();) {
    if (iequals(it->first, name)) it = items_.erase(it);
    else ++it;
  }
  add(std::move(name), std::move(value));
}

const std::string& Headers::get(std::string_view name) const {
  static const std::string empty;
  for (auto& [k, v] : items_)
    if (iequals(k, name)) return v;
  return empty;
}

bool Headers::has(std::string_view name) const {
  for (auto& [k, v] : items_)
    if (iequals(k, name)) return true;
  return false;
}

std::vector<std::string> Headers::all(std::string_view name) const {
  std::vector<std::string> out;
  for (auto& [k, v] : items_)
    if (iequals(k, name)) out.push_back(v);
  return out;
}

std::vector<std::pair<std::string, std::string>> Request::query() const {
  if (!query_parsed_) {
    query_parsed_ = true;
    size_t pos = 0;
    std::string_view q = raw_query;
    while (pos <= q.size() && !q.empty()) {
      size_t amp = q.find('&', pos);
      std::string_view part = q.substr(pos, amp == std::string_view::npos ? q.npos : amp - pos);
      if (!part.empty()) {
        size_t eq = part.find('=');
        std::string k, v;
        if (!query_decode(part.substr(0, eq), k)) k = std::string(part.substr(0, eq));
        if (eq != std::string_view::npos && !query_decode(part.substr(eq + 1), v))
          v = std::string(part.substr(eq + 1));
        query_.emplace_back(std::move(k), std::move(v));
      }
      if (amp == std::string_view::npos) break;
      pos = amp + 1;
    }
  }
  return query_;
}

const std::string* Request::query_param(std::string_view key) const {
  query();
  for (auto& [k, v] : query_)
    if (k == key) return &v;
  return nullptr;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
      if (h < 0 || l < 0) return false;
      out.push_back(char(h * 16 + l));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return true;
}

bool query_decode(std::string_view in, std::string& out) {
  std::string plus(in);
  for (char& c : plus)
    if (c == '+') c = ' ';
  return percent_decode(plus, out);
}

std::string percent_encode(std::string_view in) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

const char* reason_phrase(int s) {
  switch (s) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

}  // namespace atelier::http
