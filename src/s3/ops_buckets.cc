// The service and bucket operations: list, create, head, locate, delete.
#include <pugixml.hpp>

#include "iam/iam.h"
#include "obs/buckets.h"
#include "obs/multipart.h"
#include "s3/operations.h"

namespace atelier::s3 {

void Ops::need_bucket(const Call& c) {
  if (!s_.objects.bucket_exists(c.bucket)) throw S3Error(404, "NoSuchBucket", "The specified bucket does not exist.");
}

// The caller's account's buckets (never another account's, nor the
// platform's shipped material), in name order.
http::Response Ops::list_buckets(Call& c) {
  pugi::xml_document doc;
  auto root = doc.append_child("ListAllMyBucketsResult");
  auto owner = root.append_child("Owner");
  owner.append_child("ID").text() = c.caller.domain_id.c_str();
  owner.append_child("DisplayName").text() = c.caller.domain_name.c_str();
  auto list = root.append_child("Buckets");
  for (const auto& e : s_.buckets.owned_by(c.caller.domain_id)) {
    if (!s_.objects.bucket_exists(e.bucket)) continue;
    auto b = list.append_child("Bucket");
    b.append_child("Name").text() = e.bucket.c_str();
    b.append_child("CreationDate").text() = iso_time(e.since_ms).c_str();
  }
  return xml_response(c, doc);
}

// The gate has already made the bucket the caller's (or refused: another
// account's name). A location other than this server's region is refused.
http::Response Ops::create_bucket(Call& c) {
  if (!c.req.body.empty()) {
    pugi::xml_document doc;
    auto conf = parse_body(doc, c.req.body, "CreateBucketConfiguration");
    // S3 names the region LocationConstraint, OBS Location.
    std::string where = conf.child(c.dialect == Dialect::kObs ? "Location" : "LocationConstraint").text().get();
    if (!where.empty() && where != o_.region)
      throw S3Error(400, "InvalidLocationConstraint",
                    "The specified location-constraint is not valid: this server's region is " + o_.region + ".");
  }
  if (s_.objects.bucket_exists(c.bucket))
    throw S3Error(409, "BucketAlreadyOwnedByYou",
                  "The bucket you tried to create already exists, and you own it.");
  s_.objects.create_bucket(c.bucket);
  http::Response r;
  r.headers.add("Location", "/" + c.bucket);
  r.headers.add(c.prefix() + "request-id", c.req.request_id);
  return r;
}

http::Response Ops::head_bucket(Call& c) {
  need_bucket(c);
  http::Response r;
  r.head_only = true;
  r.headers.add(c.prefix() + "bucket-region", o_.region);
  if (c.dialect == Dialect::kObs) r.headers.add("x-obs-bucket-location", o_.region);
  r.headers.add(c.prefix() + "request-id", c.req.request_id);
  return r;
}

// <LocationConstraint> to S3 clients, <Location> to OBS clients.
http::Response Ops::bucket_location(Call& c) {
  need_bucket(c);
  pugi::xml_document doc;
  bool obs = c.dialect == Dialect::kObs;
  auto loc = doc.append_child(obs ? "Location" : "LocationConstraint");
  loc.append_attribute("xmlns") = obs ? "http://obs.myhwclouds.com/doc/2015-06-30/" : "http://s3.amazonaws.com/doc/2006-03-01/";
  loc.text() = o_.region.c_str();
  return xml_response(c, doc);
}

// Only an empty bucket goes (no object, no folder marker, no unfinished
// upload); its name is then free for any account.
http::Response Ops::delete_bucket(Call& c) {
  need_bucket(c);
  bool truncated = false;
  auto any = s_.objects.list(c.bucket, "", "", "", 1);
  if (!any.objects.empty() || !any.common_prefixes.empty() ||
      !s_.multipart.uploads(c.bucket, "", "", "", 1, truncated).empty() || !s_.objects.remove_bucket(c.bucket))
    throw S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty.");
  s_.buckets.release(c.bucket, c.caller.domain_id);
  http::Response r;
  r.status = 204;
  r.headers.add(c.prefix() + "request-id", c.req.request_id);
  return r;
}

}  // namespace atelier::s3
