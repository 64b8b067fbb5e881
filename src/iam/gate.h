// The Gatekeeper: resolves the caller of a matched route from X-Auth-Token (or,
// on browser routes, the session cookie of /login) or
// an SDK-HMAC-SHA256 signature, resolves the project of the path, and
// authorizes the route's action and dependent actions (or its self check),
// applies the route's restriction (the caller's relation to the resource),
// then checks that the caller's account may use the bucket of every object
// path the route declares. The only place in Atelier where permissions are checked.
#pragma once
#include "http/router.h"
#include "iam/iam.h"
#include "obs/buckets.h"

namespace atelier::iam {

class Gate : public http::Gatekeeper {
 public:
  Gate(Iam& iam, obs::Buckets& buckets) : iam_(iam), buckets_(buckets) {}
  void admit(http::Context& ctx) override;

 private:
  // The caller; `token` is set for token callers.
  std::shared_ptr<const UserRecord> authenticate(http::Context& ctx, std::shared_ptr<const TokenInfo>& token);
  void authorize(http::Context& ctx);
  void check_object_paths(http::Context& ctx);
  Iam& iam_;
  obs::Buckets& buckets_;
};

}  // namespace atelier::iam
