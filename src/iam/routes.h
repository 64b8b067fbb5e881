// The IAM HTTP surface: tokens, projects, users, groups, policies, grants and
// access keys. Declared as data, like every route.
#pragma once
#include <vector>

#include "http/router.h"
#include "iam/iam.h"

namespace atelier::iam {

std::vector<http::Route> routes(Iam& iam);
// The browser sign-in: GET/POST /login, GET /login/session, GET/POST
// /login/password, POST /logout.
std::vector<http::Route> console_routes(Iam& iam);

}  // namespace atelier::iam
