#include "training/v1_query.h"

#include "common/error.h"
#include "common/json.h"

namespace atelier::training {

int64_t parse_long(const std::string& s, const char* what) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
    throw bad_request(std::string(what) + " must be a positive integer, got '" + s.substr(0, 40) + "'");
  return std::stoll(s);
}

std::optional<std::string> query(const http::Context& ctx, const char* name) {
  const std::string* v = ctx.req.query_param(name);
  return v && !v->empty() ? std::optional<std::string>(*v) : std::nullopt;
}

int64_t query_int(const http::Context& ctx, const char* name, int64_t def, int64_t lo, int64_t hi) {
  auto v = query(ctx, name);
  if (!v) return def;
  if (v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos || std::stoll(*v) < lo || std::stoll(*v) > hi)
    throw bad_request(std::string(name) + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  return std::stoll(*v);
}

ListQuery list_query(const http::Context& ctx, const std::vector<std::pair<std::string, std::string>>& columns,
                     const char* default_order) {
  ListQuery q{query_int(ctx, "per_page", 10, 1, 1000), query_int(ctx, "page", 1, 1, 65535), "", "", ""};
  std::string sort = query(ctx, "sortBy").value_or(columns.front().first), names;
  for (auto& [name, col] : columns) {
    names += (names.empty() ? "" : ", ") + name;
    if (name == sort) q.column = col;
  }
  if (q.column.empty()) throw bad_request("sortBy must be one of " + names);
  q.order = query(ctx, "order").value_or(default_order);
  if (q.order != "asc" && q.order != "desc") throw bad_request("order must be asc or desc");
  q.search = query(ctx, "search_content").value_or("");
  if (utf8_length(q.search) > 64) throw bad_request("search_content must be at most 64 characters");
  return q;
}

std::string status_filter(const http::Context& ctx, const std::string& column, store::Params& ps) {
  auto st = query(ctx, "status");
  if (!st) return "";
  std::string in;
  for (size_t start = 0;;) {
    size_t bar = st->find('|', start);
    std::string part = st->substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    if (part.empty() || part.size() > 2 || part.find_first_not_of("0123456789") != std::string::npos || std::stoi(part) > 21)
      throw bad_request("status must be status codes 0-21 joined by '|', got '" + st->substr(0, 40) + "'");
    in += in.empty() ? "?" : ", ?";
    ps.push_back(std::stoi(part));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return " AND " + column + " IN (" + in + ")";
}

}  // namespace atelier::training
