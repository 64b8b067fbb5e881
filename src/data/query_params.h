// Query parameters the data lists share: paging, booleans, integers, the
// train/evaluate ratio range and the version format, each refused with a 400
// naming the parameter.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "http/router.h"

namespace atelier::data {

// Offset/limit as the v2 lists define them: offset is a page index.
std::pair<int64_t, int64_t> page(const http::Context& ctx, int64_t def_limit, int64_t max_limit);

const std::string* qp(const http::Context& ctx, const char* k);

// `train_evaluate_ratio=min,max` (dataset and version lists): a closed range within [0, 1].
std::optional<std::pair<double, double>> query_ratio_range(const http::Context& ctx);

bool query_bool(const http::Context& ctx, const char* k, bool def);

std::optional<int> query_int(const http::Context& ctx, const char* k);

std::optional<std::string> query_version_format(const http::Context& ctx);

}  // namespace atelier::data
