// Team labeling: labeling teams (workforces) and their members
// (workers). A member is known by e-mail and acts as a user of the account:
// adding one links the account's IAM user with that address, or makes one
// (without a password and in no group, so it holds no permission of its
// own until the administrator grants some or the tasks assign it work).
#pragma once
#include <vector>

#include "common/mail.h"
#include "http/router.h"
#include "iam/iam.h"
#include "store/db.h"

namespace atelier::labeling {

std::vector<store::Migration> migrations();
// `smtp`: where notices go (copied; "" url = none configured); `public_url`:
// how people reach the server, for the links notices carry (never the
// request's Host, which the caller chooses).
std::vector<http::Route> routes(store::Database& db, iam::Iam& iam, const mail::Smtp& smtp, const std::string& public_url);

}  // namespace atelier::labeling
