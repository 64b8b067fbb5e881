// What the labeling files share inside the capability.
#pragma once
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "common/mail.h"
#include "http/router.h"
#include "iam/iam.h"
#include "store/db.h"

namespace atelier::labeling {

// " ORDER BY <column> <dir>, <tie> <dir>" from the list's sort_by (one of
// `keys`: parameter value -> column; the first is the default) and order
// (asc | desc, default desc). A bad value is a 400 naming the parameter.
std::string order_by(const http::Context& ctx, std::initializer_list<std::pair<const char*, const char*>> keys,
                     const std::string& tie);

std::vector<store::Migration> task_migrations();
// Team tasks (team_tasks.cc) and a member's own task list.
std::vector<http::Route> task_routes(store::Database& db, iam::Iam& iam, const mail::Smtp& smtp, const std::string& public_url);

}  // namespace atelier::labeling
