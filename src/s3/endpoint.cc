// The object endpoint's request cycle: where the bucket and key are, which
// operation, who signed, whether the gate admits it; then the operation,
// with every failure answered as an S3 error document.
#include "s3/endpoint.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>

#include "common/clock.h"
#include "common/crypto.h"
#include "iam/gate.h"
#include "iam/iam.h"
#include "obs/buckets.h"
#include "obs/multipart.h"
#include "s3/operations.h"

namespace atelier::s3 {

namespace {

// Sub-resources of features this endpoint does not have: answered 501
// rather than mistaken for the plain operation (a listing, a download).
bool unsupported_subresource(const http::Request& req, std::string& which) {
  static const char* const names[] = {
      "acl",       "policy",      "versioning", "cors",          "lifecycle",      "tagging",      "website",
      "logging",   "notification", "replication", "encryption",  "requestPayment", "object-lock",  "retention",
      "legal-hold", "torrent",    "restore",    "select",        "accelerate",     "inventory",    "metrics",
      "analytics", "ownershipControls", "intelligent-tiering", "publicAccessBlock", "policyStatus", "versions",
      "attributes", "storageinfo", "quota",     "storagePolicy", "append",         "modify",       "rename",
      "truncate",  "versionId"};
  for (const char* n : names)
    if (req.query_param(n)) {
      which = n;
      return true;
    }
  return false;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// The payload of a request read whole, checked against its signature:
// the declared SHA-256, or the chunk signatures of an aws-chunked body
// (decoded in place).
void verify_small_body(Call& c) {
  const auto& a = c.auth;
  if (a.payload == Payload::kSha256 && crypto::sha256_hex(c.req.body) != a.payload_sha256)
    throw S3Error(400, "XAmzContentSHA256Mismatch",
                  "The provided 'x-amz-content-sha256' header does not match what was computed.");
  if (a.payload == Payload::kStreamingSigned) {
    std::string decoded;
    ChunkDecoder d(*a.chunks, a.decoded_content_length, [&](std::string_view s) { decoded.append(s); });
    d.feed(c.req.body);
    d.finish();
    c.req.body = std::move(decoded);
  }
}

// An upload announcing more than one PUT or part may hold is refused
// before its body is read.
void check_length(const http::Request& req, uint64_t max) {
  const std::string& decoded = req.headers.get("x-amz-decoded-content-length");
  const std::string& n = decoded.empty() ? req.headers.get("Content-Length") : decoded;
  if (n.empty()) return;
  if (n.size() > 19 || n.find_first_not_of("0123456789") != std::string::npos)
    throw S3Error(400, "InvalidArgument", "The Content-Length is not a number.");
  if (std::strtoull(n.c_str(), nullptr, 10) > max)
    throw S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.");
}

}  // namespace

struct Endpoint::Impl {
  Services s;
  EndpointOptions o;
  Ops ops;

  Impl(Services sv, EndpointOptions op) : s(sv), o(op), ops(sv, op) {}

  struct Target {
    Scope scope = Scope::kService;
    std::string bucket, key;
  };

  // Bucket and key from the Host (virtual-hosted style) or the path.
  Target target(const http::Request& req) const {
    Target t;
    std::string path;
    if (!http::percent_decode(req.path, path)) throw S3Error(400, "InvalidURI", "Couldn't parse the specified URI.");
    std::string_view rest = std::string_view(path).substr(1);  // the server only lets absolute paths in
    std::string host = lower(req.headers.get("Host"));
    if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(']') == std::string::npos)
      host.resize(colon);
    if (!o.domain.empty() && host.size() > o.domain.size() + 1 && host.ends_with("." + lower(o.domain))) {
      t.bucket = host.substr(0, host.size() - o.domain.size() - 1);
      t.key = std::string(rest);
    } else {
      size_t slash = rest.find('/');
      t.bucket = std::string(rest.substr(0, slash));
      if (slash != std::string_view::npos) t.key = std::string(rest.substr(slash + 1));
    }
    t.scope = t.bucket.empty() ? Scope::kService : t.key.empty() ? Scope::kBucket : Scope::kObject;
    if (!t.bucket.empty() && !obs::valid_bucket(t.bucket))
      throw S3Error(400, "InvalidBucketName", "The specified bucket is not valid.");
    if (t.key.size() > 1024) throw S3Error(400, "KeyTooLongError", "Your key is too long.");
    if (t.key.find('\0') != std::string::npos) throw S3Error(400, "InvalidArgument", "Object keys may not contain NUL.");
    return t;
  }

  // Authenticates and admits a request; the Call it will run as.
  std::unique_ptr<Call> admit(http::Request& req) {
    Target t = target(req);
    std::string sub;
    if (unsupported_subresource(req, sub))
      throw S3Error(501, "NotImplemented", "The '" + sub + "' sub-resource is not supported by this server.");
    const Operation* op = find_operation(req, t.scope);
    if (!op) throw S3Error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.");
    if (op->name == "UploadPart" && (req.headers.has("x-amz-copy-source") || req.headers.has("x-obs-copy-source")))
      throw S3Error(501, "NotImplemented", "UploadPartCopy is not supported by this server: upload the part's bytes.");
    AuthOptions ao;
    ao.regions = {o.region, "us-east-1"};
    ao.max_skew_ms = o.max_skew_ms;
    if (!o.domain.empty() && t.bucket != "" && !req.path.starts_with("/" + t.bucket)) ao.host_bucket = t.bucket;
    auto keys = [this](const std::string& ak) -> std::optional<KeySecret> {
      auto k = s.iam.access_key(ak);
      if (!k) return std::nullopt;
      return KeySecret{k->secret, k->status == "active"};
    };
    auto call = std::unique_ptr<Call>(new Call{req, *op, t.bucket, t.key, authenticate(req, keys, clock::now_ms(), ao),
                                               {}, Dialect::kAmz});
    if (call->auth.scheme == Scheme::kObsHeader || call->auth.scheme == Scheme::kObsQuery) call->dialect = Dialect::kObs;
    http::Context ctx{req, op->route, {}, {}, false, {}};
    ctx.params.items = {{"bucket", t.bucket}, {"key", t.key}};
    if (op->name == "CopyObject") ctx.params.items.push_back({"source_bucket", copy_source(req).bucket});
    // A bucket that neither exists nor has an owner is not claimed by
    // naming it, except to create it.
    if (op->scope != Scope::kService && op->name != "CreateBucket" && !s.objects.bucket_exists(t.bucket) &&
        !s.buckets.owner(t.bucket))
      throw S3Error(404, "NoSuchBucket", "The specified bucket does not exist.");
    try {
      s.gate.admit_signed(ctx, call->auth.access_key);
    } catch (const ApiError& e) {
      auto [status, code] = s3_code(e, op->name, !t.key.empty());
      throw S3Error(status, code, e.what());
    }
    call->caller = ctx.caller;
    return call;
  }

  // The error answer of a refused or failed request; to a HEAD, its status
  // and headers only (a body would be read as the next answer).
  http::Response refusal(const std::exception& e, const http::Request& req, const Call* c) {
    http::Response r = error_answer(e, req, c);
    r.head_only = req.method == "HEAD";
    return r;
  }

  http::Response error_answer(const std::exception& e, const http::Request& req, const Call* c) {
    Dialect d = c ? c->dialect : (req.headers.get("Authorization").starts_with("OBS ") ? Dialect::kObs : Dialect::kAmz);
    std::string resource = c ? c->resource() : req.path;
    if (auto* a = dynamic_cast<const ApiError*>(&e)) {
      auto [status, code] = s3_code(*a, c ? c->op.name : "", c && !c->key.empty());
      return error_response(status, code, a->what(), resource, req.request_id, d);
    }
    spdlog::error("request {}: object endpoint failure: {}", req.request_id, e.what());
    return error_response(500, "InternalError", "We encountered an internal error. Please try again.", resource,
                          req.request_id, d);
  }

  static obs::ObsPath copy_source(const http::Request& req);
};

obs::ObsPath Endpoint::Impl::copy_source(const http::Request& req) {
  std::string raw = req.headers.has("x-amz-copy-source") ? req.headers.get("x-amz-copy-source")
                                                         : req.headers.get("x-obs-copy-source");
  if (auto q = raw.find('?'); q != std::string::npos) {
    if (!raw.substr(q + 1).starts_with("versionId="))
      throw S3Error(400, "InvalidArgument", "x-amz-copy-source: unexpected query " + raw.substr(q));
    raw.resize(q);
  }
  std::string path;
  if (!http::percent_decode(raw, path)) throw S3Error(400, "InvalidArgument", "x-amz-copy-source is not URL-encoded.");
  if (!path.starts_with("/")) path = "/" + path;
  size_t slash = path.find('/', 1);
  obs::ObsPath p{path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1),
                 slash == std::string::npos ? "" : path.substr(slash + 1)};
  if (!obs::valid_bucket(p.bucket) || p.key.empty() || !obs::valid_object_key(p.key))
    throw S3Error(400, "InvalidArgument", "x-amz-copy-source must name /bucket/key.");
  return p;
}

Endpoint::Endpoint(Services s, EndpointOptions o) : impl_(std::make_unique<Impl>(s, std::move(o))) {}
Endpoint::~Endpoint() = default;

http::BodyPlan Endpoint::plan(http::Request& req) {
  // OBS clients probe the API version before signing anything.
  if (req.query_param("apiversion") && (req.method == "HEAD" || req.method == "GET")) return http::BodyPlan::buffer();
  std::unique_ptr<Call> call;
  try {
    Impl::Target t = impl_->target(req);
    const Operation* op = find_operation(req, t.scope);
    std::string sub;
    if (!op || op->body != BodyUse::kStream || unsupported_subresource(req, sub)) {
      // Read small bodies only; the operation is decided once it is read.
      const auto& n = req.headers.get("Content-Length");
      if (n.size() > 7 && (n.size() > 18 || std::strtoull(n.c_str(), nullptr, 10) > kMaxSmallBody))
        throw S3Error(400, "MaxMessageLengthExceeded", "Your request was too big.");
      return http::BodyPlan::buffer();
    }
    call = impl_->admit(req);
    check_length(req, impl_->o.max_object_bytes);
    auto sink = (impl_->ops.*(call->op.stream))(*call);
    return http::BodyPlan::stream(std::move(sink));
  } catch (const std::exception& e) {
    auto out = impl_->refusal(e, req, call.get());
    AccessLine{req.method, call ? call->op.name : "", req.request_id, call ? call->caller.user_id : "",
               req.remote_addr}
        .write(out.status);
    return http::BodyPlan::refuse(std::move(out));
  }
}

http::Response Endpoint::handle(http::Request& req) {
  if (req.query_param("apiversion") && (req.method == "HEAD" || req.method == "GET")) {
    http::Response r;
    r.headers.add("x-obs-api", "3.0");
    r.head_only = req.method == "HEAD";
    return r;
  }
  AccessLine line{req.method, "", req.request_id, "", req.remote_addr};
  std::unique_ptr<Call> call;
  http::Response out;
  try {
    call = impl_->admit(req);
    line.operation = call->op.name;
    line.user = call->caller.user_id;
    if (call->op.body == BodyUse::kStream) throw S3Error(400, "InvalidRequest", "The body could not be streamed.");
    verify_small_body(*call);
    out = (impl_->ops.*(call->op.handle))(*call);
  } catch (const std::exception& e) {
    out = impl_->refusal(e, req, call.get());
  }
  line.write(out.status);
  return out;
}

json Endpoint::describe() const {
  json out = json::array();
  for (const auto& op : operations()) {
    json row = {{"operation", op.name}, {"method", op.method}, {"path", op.route.path}, {"action", op.action},
                {"depends", op.depends}};
    if (!op.selectors.empty()) row["selectors"] = op.selectors;
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace atelier::s3
