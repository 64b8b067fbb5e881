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
  // admit() for a request whose signature someone else verified (the object
  // endpoint's S3 signatures): the caller is the user of `access_key`, then
  // authorization, restriction and object paths as for any route.
  void admit_signed(http::Context& ctx, const std::string& access_key);

 private:
  // The caller; `token` is set for token callers.
  std::shared_ptr<const UserRecord> authenticate(http::Context& ctx, std::shared_ptr<const TokenInfo>& token);
  void admit_user(http::Context& ctx, const UserRecord& user, bool session);
  void authorize(http::Context& ctx);
  void authorize(http::Context& ctx, const UserRecord& user, const TokenInfo* token);
  void check_object_paths(http::Context& ctx);
  Iam& iam_;
  obs::Buckets& buckets_;
};

}  // namespace atelier::iam
