// The Gatekeeper: resolves the caller of a matched route from X-Auth-Token (or,
// on browser routes, the session cookie of /login) or
// an SDK-HMAC-SHA256 signature, resolves the project of the path, and
// authorizes the route's action and dependent actions. The only place in
// Atelier where permissions are checked.
#pragma once
#include "http/router.h"
#include "iam/iam.h"

namespace atelier::iam {

class Gate : public http::Gatekeeper {
 public:
  explicit Gate(Iam& iam) : iam_(iam) {}
  void admit(http::Context& ctx) override;

 private:
  // The caller; `token` is set for token callers.
  std::shared_ptr<const UserRecord> authenticate(http::Context& ctx, std::shared_ptr<const TokenInfo>& token);
  Iam& iam_;
};

}  // namespace atelier::iam
