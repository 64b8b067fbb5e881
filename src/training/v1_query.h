// Query-string reading shared by the legacy v1 list and get calls (training
// jobs, training configs, visualization jobs): each bad value is a 400 that
// names the parameter.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http/router.h"
#include "store/db.h"

namespace atelier::training {

// A positive Long from a path or query value.
int64_t parse_long(const std::string& s, const char* what);
std::optional<std::string> query(const http::Context& ctx, const char* name);
// An integer parameter in [lo, hi]; absent or empty: `def`.
int64_t query_int(const http::Context& ctx, const char* name, int64_t def, int64_t lo, int64_t hi);

// The paging, sorting and name search of a list call. `columns`: sortBy
// value -> SQL column, the first being the default.
struct ListQuery {
  int64_t per_page, page;
  std::string column, order, search;
};
ListQuery list_query(const http::Context& ctx, const std::vector<std::pair<std::string, std::string>>& columns,
                     const char* default_order);

// `status` ("8" or "7|8": numeric status codes 0-21 joined by '|'):
// " AND <column> IN (?, ...)" with its values added to `ps`; "" when the
// parameter is absent.
std::string status_filter(const http::Context& ctx, const std::string& column, store::Params& ps);

}  // namespace atelier::training
