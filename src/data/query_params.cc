#include "data/query_params.h"

#include <climits>
#include <cstdlib>

#include "common/error.h"
#include "common/json.h"

namespace atelier::data {

std::pair<int64_t, int64_t> page(const http::Context& ctx, int64_t def_limit, int64_t max_limit) {
  auto parse = [&](const char* k, int64_t def, int64_t lo, int64_t hi) {
    auto v = ctx.req.query_param(k);
    if (!v) return def;
    if (v->empty() || v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos)
      throw bad_request(std::string("Invalid parameter ") + k + ": must be an integer");
    int64_t n = std::stoll(*v);
    if (n < lo || n > hi)
      throw bad_request(std::string("Invalid parameter ") + k + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return n;
  };
  int64_t limit = parse("limit", def_limit, 1, max_limit);
  int64_t offset = parse("offset", 0, 0, 100000000);
  return {offset * limit, limit};
}

const std::string* qp(const http::Context& ctx, const char* k) { return ctx.req.query_param(k); }

std::optional<std::pair<double, double>> query_ratio_range(const http::Context& ctx) {
  auto v = qp(ctx, "train_evaluate_ratio");
  if (!v) return std::nullopt;
  auto bad = [] { return bad_request("Invalid parameter train_evaluate_ratio: must be \"min,max\" with 0 <= min <= max <= 1"); };
  size_t comma = v->find(',');
  if (comma == std::string::npos) throw bad();
  auto num = [&](const std::string& t) {
    auto d = parse_ratio(t);
    if (!d) throw bad();
    return *d;
  };
  double lo = num(v->substr(0, comma)), hi = num(v->substr(comma + 1));
  if (lo > hi) throw bad();
  return std::make_pair(lo, hi);
}

bool query_bool(const http::Context& ctx, const char* k, bool def) {
  auto v = qp(ctx, k);
  if (!v) return def;
  if (*v == "true" || *v == "True") return true;
  if (*v == "false" || *v == "False") return false;
  throw bad_request(std::string("Invalid parameter ") + k + ": must be true or false");
}

std::optional<int> query_int(const http::Context& ctx, const char* k) {
  auto v = qp(ctx, k);
  if (!v) return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end || n < INT32_MIN || n > INT32_MAX) throw bad_request(std::string("Invalid parameter ") + k + ": must be an integer");
  return int(n);
}

std::optional<std::string> query_version_format(const http::Context& ctx) {
  auto f = query_int(ctx, "version_format");
  if (!f) return std::nullopt;
  static const char* kNames[] = {"Default", "CarbonData", "CSV"};
  if (*f < 0 || *f > 2) throw bad_request("Invalid parameter version_format: must be 0 (Default), 1 (CarbonData) or 2 (CSV)");
  return std::string(kNames[*f]);
}

}  // namespace atelier::data
