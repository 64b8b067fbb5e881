// The object endpoint's operations (internal to src/s3): the table that
// names them, what a handler is given, and the handlers, one file per
// resource (ops_service_buckets.cc, ops_objects.cc, ops_list.cc,
// ops_multipart.cc).
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/router.h"
#include "obs/object_store.h"
#include "s3/auth.h"
#include "s3/endpoint.h"

namespace pugi {
class xml_document;
class xml_node;
}  // namespace pugi

namespace atelier::s3 {

enum class Scope { kService, kBucket, kObject };
enum class BodyUse {
  kNone,    // no body expected (one that comes is read and ignored)
  kSmall,   // an XML document, read whole (at most kMaxSmallBody)
  kStream,  // object content, streamed to the store
};
inline constexpr uint64_t kMaxSmallBody = 2u << 20;

struct Call;
class Ops;

struct Operation {
  std::string name;    // S3's name of it: "PutObject"
  std::string method;  // GET, PUT, ...
  Scope scope = Scope::kObject;
  // What tells it apart from others of the same method and scope: "?uploads"
  // (that query parameter present), "^x-amz-copy-source" (that header), or "".
  std::vector<std::string> selectors;
  std::string action;                // obs:* action
  std::vector<std::string> depends;  // further actions
  bool writes = false;               // uses the bucket for writing
  BodyUse body = BodyUse::kNone;
  http::Response (Ops::*handle)(Call&) = nullptr;              // body kNone / kSmall
  std::shared_ptr<http::BodySink> (Ops::*stream)(Call&) = nullptr;  // body kStream
  http::Route route;  // what the gate admits (made from the row)
};

// How the caller speaks: headers and XML of S3 (x-amz-) or of OBS (x-obs-).
enum class Dialect { kAmz, kObs };

// One request, authenticated and admitted.
struct Call {
  http::Request& req;
  const Operation& op;
  std::string bucket, key;  // decoded
  AuthResult auth;
  http::Caller caller;
  Dialect dialect = Dialect::kAmz;

  // "x-amz-" or "x-obs-" (for response headers).
  std::string prefix() const { return dialect == Dialect::kObs ? "x-obs-" : "x-amz-"; }
  obs::ObsPath path() const { return {bucket, key}; }
  // "/bucket/key" as the Resource of an error.
  std::string resource() const { return "/" + bucket + (key.empty() ? "" : "/" + key); }
};

// The S3 status and code of an ApiError from elsewhere in Atelier (`op`:
// the operation's name; `object`: the request names an object).
std::pair<int, std::string> s3_code(const ApiError& e, std::string_view op, bool object);

// One access-log line of the object endpoint (never a header, query or body:
// presigned URLs carry signatures). `user`: the caller's user id, or "".
struct AccessLine {
  std::string method, operation, request_id, user, remote;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  void write(int status) const;
};

// XML documents of answers and requests.
std::string xml_text(const pugi::xml_document& doc);
// An answer carrying an XML document (with the request id header).
http::Response xml_response(const Call& c, const pugi::xml_document& doc, int status = 200);
// The S3 error document of a refusal.
http::Response error_response(int status, const std::string& code, const std::string& message,
                              const std::string& resource, const std::string& request_id, Dialect d);
// A small XML body parsed; MalformedXML when it is not well formed or its
// root is not `root`.
pugi::xml_node parse_body(pugi::xml_document& doc, const std::string& body, const char* root);
// ISO 8601 with milliseconds, as S3 lists times.
std::string iso_time(int64_t ms);

// The request's metadata headers (x-amz-meta-* or x-obs-meta-*), names lower
// case without the prefix; MetadataTooLarge over 2 KiB.
std::map<std::string, std::string> user_metadata(const http::Request& req);
// Content type, metadata and Content-MD5 (InvalidDigest when malformed) of a PUT.
obs::PutOptions put_options(const http::Request& req);
// The headers describing an object (ETag, Last-Modified, Content-Type, metadata).
void describe_object(const Call& c, const obs::ObjectInfo& info, http::Headers& h);
// `"etag"` as the ETag header carries it.
inline std::string etag_value(const std::string& etag) { return "\"" + etag + "\""; }

class Ops {
 public:
  explicit Ops(Services s, EndpointOptions o) : s_(s), o_(std::move(o)) {}

  // service and buckets (ops_buckets.cc)
  http::Response list_buckets(Call& c);
  http::Response create_bucket(Call& c);
  http::Response head_bucket(Call& c);
  http::Response bucket_location(Call& c);
  http::Response delete_bucket(Call& c);
  // objects (ops_objects.cc)
  std::shared_ptr<http::BodySink> put_object(Call& c);
  http::Response get_object(Call& c);
  http::Response head_object(Call& c);
  http::Response delete_object(Call& c);
  http::Response delete_objects(Call& c);
  http::Response copy_object(Call& c);
  // listing (ops_list.cc)
  http::Response list_objects(Call& c);
  // multipart uploads (ops_multipart.cc)
  http::Response create_upload(Call& c);
  std::shared_ptr<http::BodySink> upload_part(Call& c);
  http::Response complete_upload(Call& c);
  http::Response abort_upload(Call& c);
  http::Response list_parts(Call& c);
  http::Response list_uploads(Call& c);

  // NoSuchBucket unless the bucket exists.
  void need_bucket(const Call& c);
  const EndpointOptions& options() const { return o_; }

 private:
  // The body sink of an upload: decodes (aws-chunked) and checks the
  // payload signature or hash, writes through `write`, and calls `commit`
  // only when everything checked out; the answer carries the ETag it returns.
  std::shared_ptr<http::BodySink> upload_sink(Call& c, std::function<void(const char*, size_t)> write,
                                              std::function<std::string()> commit);
  // Conditional headers of GET/HEAD: an answer (304/412) when they decide it.
  std::optional<http::Response> preconditions(const Call& c, const obs::ObjectInfo& info);

  Services s_;
  EndpointOptions o_;
};

// The operation table (operations.cc), built once.
const std::vector<Operation>& operations();
// The row a request is for; nullptr when no operation matches.
const Operation* find_operation(const http::Request& req, Scope scope);

}  // namespace atelier::s3
