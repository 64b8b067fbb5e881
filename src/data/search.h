// Sample search: SearchCondition objects and score windows as SQL
// over samples `s`, their values bound through `p`.
#pragma once
#include <string>

#include "common/json.h"
#include "store/db.h"

namespace atelier::data {

// Samples `s` with a label whose confidence lies in [low, high].
std::string score_window_sql(double low, double high, store::Params& p);

// The SQL of one SearchCondition over samples `s`, its parts ANDed;
// binds go to `p`. Throws a 400 naming the offending key.
std::string condition_sql(const json& c, store::Params& p);

}  // namespace atelier::data
