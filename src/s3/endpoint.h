// The object endpoint: the S3 protocol (and OBS's flavour of it) on its own
// listener, over the platform's object store. A request is signed with an
// IAM access key (s3/auth.h); its operation is a row of a table (method,
// bucket or object, sub-resource, obs:* action), and the IAM gate admits it
// from that row exactly as it admits an API route: the key's user, the
// action under the user's policies, and the bucket's owner. Object bodies
// stream both ways; nothing is held whole in memory.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "common/json.h"
#include "http/http.h"

namespace atelier::iam {
class Iam;
class Gate;
}  // namespace atelier::iam
namespace atelier::obs {
class Buckets;
class ObjectStore;
class Multipart;
}  // namespace atelier::obs

namespace atelier::s3 {

struct EndpointOptions {
  std::string region = "local";  // the only location a bucket can have
  // Virtual-hosted style: a Host of <bucket>.<domain> names the bucket.
  // Empty: path style only (/bucket/key), which is always understood.
  std::string domain;
  int64_t max_skew_ms = 15 * 60 * 1000;
  uint64_t max_object_bytes = 5ull << 30;  // one PUT or one part
};

struct Services {
  iam::Iam& iam;
  iam::Gate& gate;
  obs::Buckets& buckets;
  obs::ObjectStore& objects;
  obs::Multipart& multipart;
};

class Endpoint {
 public:
  Endpoint(Services s, EndpointOptions o);
  ~Endpoint();
  // The listener's header hook: authenticates and admits uploads before
  // their body is read, and streams it to the object store.
  http::BodyPlan plan(http::Request& req);
  // Every other request, its (small) body read.
  http::Response handle(http::Request& req);
  // The operation table, for `atelier routes` and the authorization tests.
  json describe() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace atelier::s3
