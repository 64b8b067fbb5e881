// The object endpoint's operation table. Rows are tried in order, so an
// operation told apart by a sub-resource or header comes before the plain
// operation of the same method.
#include "s3/operations.h"

namespace atelier::s3 {

namespace {

using B = BodyUse;
using S = Scope;

Operation row(std::string name, std::string method, Scope scope, std::vector<std::string> selectors,
              std::string action, std::vector<std::string> depends, bool writes, BodyUse body,
              http::Response (Ops::*handle)(Call&), std::shared_ptr<http::BodySink> (Ops::*stream)(Call&) = nullptr) {
  Operation op{std::move(name), std::move(method), scope, std::move(selectors), std::move(action),
               std::move(depends), writes, body, handle, stream, {}};
  op.route.method = op.method;
  op.route.path = scope == S::kService ? "/" : scope == S::kBucket ? "/{bucket}" : "/{bucket}/{key+}";
  op.route.action = op.action;
  op.route.depends = op.depends;
  op.route.access = http::Access::kGlobal;
  // The bucket's owner decides, like for every path an API route names; a
  // copy's source bucket is read.
  if (scope != S::kService) op.route.object_paths.push_back({"{bucket}", writes});
  for (auto& sel : op.selectors)
    if (sel == "^x-amz-copy-source") op.route.object_paths.push_back({"{source_bucket}", false});
  return op;
}

std::vector<Operation> table() {
  const std::string get = "obs:object:GetObject", put = "obs:object:PutObject", del = "obs:object:DeleteObject";
  return {
      row("ListBuckets", "GET", S::kService, {}, "obs:bucket:ListAllMyBuckets", {}, false, B::kNone, &Ops::list_buckets),

      row("GetBucketLocation", "GET", S::kBucket, {"?location"}, "obs:bucket:GetBucketLocation", {}, false, B::kNone,
          &Ops::bucket_location),
      row("ListMultipartUploads", "GET", S::kBucket, {"?uploads"}, "obs:bucket:ListBucketMultipartUploads", {}, false,
          B::kNone, &Ops::list_uploads),
      row("ListObjects", "GET", S::kBucket, {}, "obs:bucket:ListBucket", {}, false, B::kNone, &Ops::list_objects),
      row("HeadBucket", "HEAD", S::kBucket, {}, "obs:bucket:HeadBucket", {}, false, B::kNone, &Ops::head_bucket),
      row("CreateBucket", "PUT", S::kBucket, {}, "obs:bucket:CreateBucket", {}, true, B::kSmall, &Ops::create_bucket),
      row("DeleteObjects", "POST", S::kBucket, {"?delete"}, del, {}, true, B::kSmall, &Ops::delete_objects),
      row("DeleteBucket", "DELETE", S::kBucket, {}, "obs:bucket:DeleteBucket", {}, true, B::kNone, &Ops::delete_bucket),

      row("ListParts", "GET", S::kObject, {"?uploadId"}, "obs:object:ListMultipartUploadParts", {}, false, B::kNone,
          &Ops::list_parts),
      row("GetObject", "GET", S::kObject, {}, get, {}, false, B::kNone, &Ops::get_object),
      row("HeadObject", "HEAD", S::kObject, {}, get, {}, false, B::kNone, &Ops::head_object),
      row("UploadPart", "PUT", S::kObject, {"?uploadId", "?partNumber"}, put, {}, true, B::kStream, nullptr,
          &Ops::upload_part),
      row("CopyObject", "PUT", S::kObject, {"^x-amz-copy-source"}, put, {get}, true, B::kNone, &Ops::copy_object),
      row("PutObject", "PUT", S::kObject, {}, put, {}, true, B::kStream, nullptr, &Ops::put_object),
      row("CreateMultipartUpload", "POST", S::kObject, {"?uploads"}, put, {}, true, B::kNone, &Ops::create_upload),
      row("CompleteMultipartUpload", "POST", S::kObject, {"?uploadId"}, put, {}, true, B::kSmall,
          &Ops::complete_upload),
      row("AbortMultipartUpload", "DELETE", S::kObject, {"?uploadId"}, "obs:object:AbortMultipartUpload", {}, true,
          B::kNone, &Ops::abort_upload),
      row("DeleteObject", "DELETE", S::kObject, {}, del, {}, true, B::kNone, &Ops::delete_object),
  };
}

bool selected(const http::Request& req, const std::string& sel) {
  if (sel.starts_with("?")) return req.query_param(std::string_view(sel).substr(1)) != nullptr;
  if (sel.starts_with("^")) return req.headers.has(std::string_view(sel).substr(1)) ||
                                   // OBS clients name the copy source x-obs-copy-source
                                   (sel == "^x-amz-copy-source" && req.headers.has("x-obs-copy-source"));
  return false;
}

}  // namespace

const std::vector<Operation>& operations() {
  static const std::vector<Operation> ops = table();
  return ops;
}

const Operation* find_operation(const http::Request& req, Scope scope) {
  for (const auto& op : operations()) {
    if (op.scope != scope || op.method != req.method) continue;
    bool all = true;
    for (const auto& sel : op.selectors) all = all && selected(req, sel);
    if (all) return &op;
  }
  return nullptr;
}

}  // namespace atelier::s3
