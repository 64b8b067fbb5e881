// Multipart uploads: create, upload part (streamed), complete, abort, list
// parts, list uploads. The parts and their assembly are obs::Multipart's.
#include <pugixml.hpp>

#include "obs/multipart.h"
#include "s3/operations.h"

namespace atelier::s3 {

namespace {

std::string param(const http::Request& req, std::string_view name) {
  auto* v = req.query_param(name);
  return v ? *v : "";
}

// A non-negative integer query parameter no larger than `max`, or `dflt` when absent.
int64_t number(const http::Request& req, std::string_view name, int64_t dflt, int64_t max) {
  auto* v = req.query_param(name);
  if (!v) return dflt;
  if (v->empty() || v->size() > 10 || v->find_first_not_of("0123456789") != std::string::npos)
    throw S3Error(400, "InvalidArgument", std::string(name) + " must be a non-negative integer.");
  return std::min<int64_t>(std::stoll(*v), max);
}

void add_text(pugi::xml_node parent, const char* name, const std::string& value) {
  parent.append_child(name).text() = value.c_str();
}

}  // namespace

namespace {
obs::Multipart::Upload find_upload(obs::Multipart& mp, const Call& c) {
  auto u = mp.find(param(c.req, "uploadId"), c.path());
  if (!u)
    throw S3Error(404, "NoSuchUpload",
                  "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                  "aborted or completed.");
  return *u;
}
}  // namespace

http::Response Ops::create_upload(Call& c) {
  need_bucket(c);
  if (c.key.back() == '/') throw S3Error(400, "InvalidArgument", "A key ending in '/' is a folder and has no content here.");
  auto options = put_options(c.req);
  options.expect_md5.clear();
  auto u = s_.multipart.create(c.path(), options, c.caller.user_id);
  pugi::xml_document doc;
  auto res = doc.append_child("InitiateMultipartUploadResult");
  res.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  add_text(res, "Bucket", c.bucket);
  add_text(res, "Key", c.key);
  add_text(res, "UploadId", u.id);
  return xml_response(c, doc);
}

std::shared_ptr<http::BodySink> Ops::upload_part(Call& c) {
  auto u = find_upload(s_.multipart, c);
  int64_t n = number(c.req, "partNumber", 0, 1 << 20);
  if (n < 1 || n > obs::Multipart::kMaxPartNumber)
    throw S3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
  std::shared_ptr<obs::Multipart::PartWriter> w = s_.multipart.part_writer(u, int(n), put_options(c.req).expect_md5);
  return upload_sink(c, [w](const char* d, size_t len) { w->write(d, len); }, [w] { return w->commit().etag; });
}

http::Response Ops::complete_upload(Call& c) {
  auto u = find_upload(s_.multipart, c);
  pugi::xml_document in;
  auto root = parse_body(in, c.req.body, "CompleteMultipartUpload");
  std::vector<std::pair<int, std::string>> parts;
  for (auto p : root.children("Part")) {
    std::string num = p.child("PartNumber").text().get();
    if (num.empty() || num.size() > 5 || num.find_first_not_of("0123456789") != std::string::npos)
      throw S3Error(400, "InvalidPart", "One or more of the specified parts could not be found.");
    parts.emplace_back(std::stoi(num), p.child("ETag").text().get());
  }
  if (parts.empty())
    throw S3Error(400, "MalformedXML", "You must specify at least one part");
  auto info = s_.multipart.complete(u, parts);
  pugi::xml_document doc;
  auto res = doc.append_child("CompleteMultipartUploadResult");
  res.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  add_text(res, "Location", "/" + c.bucket + "/" + c.key);
  add_text(res, "Bucket", c.bucket);
  add_text(res, "Key", c.key);
  add_text(res, "ETag", etag_value(info.etag));
  return xml_response(c, doc);
}

http::Response Ops::abort_upload(Call& c) {
  auto u = find_upload(s_.multipart, c);
  s_.multipart.abort(u.id);
  http::Response r;
  r.status = 204;
  r.headers.add(c.prefix() + "request-id", c.req.request_id);
  return r;
}

http::Response Ops::list_parts(Call& c) {
  auto u = find_upload(s_.multipart, c);
  int64_t after = number(c.req, "part-number-marker", 0, obs::Multipart::kMaxPartNumber);
  int64_t max = number(c.req, "max-parts", 1000, 1000);
  bool truncated = false;
  auto parts = max > 0 ? s_.multipart.parts(u, int(after), size_t(max), truncated) : std::vector<obs::Multipart::Part>{};
  pugi::xml_document doc;
  auto res = doc.append_child("ListPartsResult");
  res.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  add_text(res, "Bucket", c.bucket);
  add_text(res, "Key", c.key);
  add_text(res, "UploadId", u.id);
  add_text(res, "PartNumberMarker", std::to_string(after));
  add_text(res, "NextPartNumberMarker", std::to_string(parts.empty() ? after : parts.back().number));
  add_text(res, "MaxParts", std::to_string(max));
  add_text(res, "IsTruncated", truncated ? "true" : "false");
  add_text(res, "StorageClass", "STANDARD");
  for (const auto& p : parts) {
    auto e = res.append_child("Part");
    add_text(e, "PartNumber", std::to_string(p.number));
    add_text(e, "LastModified", iso_time(p.mtime_ms));
    add_text(e, "ETag", etag_value(p.etag));
    add_text(e, "Size", std::to_string(p.size));
  }
  return xml_response(c, doc);
}

http::Response Ops::list_uploads(Call& c) {
  need_bucket(c);
  std::string prefix = param(c.req, "prefix"), key_marker = param(c.req, "key-marker"),
              id_marker = param(c.req, "upload-id-marker");
  int64_t max = number(c.req, "max-uploads", 1000, 1000);
  bool truncated = false;
  auto uploads = max > 0 ? s_.multipart.uploads(c.bucket, prefix, key_marker, id_marker, size_t(max), truncated)
                         : std::vector<obs::Multipart::Upload>{};
  pugi::xml_document doc;
  auto res = doc.append_child("ListMultipartUploadsResult");
  res.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  add_text(res, "Bucket", c.bucket);
  add_text(res, "KeyMarker", key_marker);
  add_text(res, "UploadIdMarker", id_marker);
  add_text(res, "NextKeyMarker", uploads.empty() ? "" : uploads.back().path.key);
  add_text(res, "NextUploadIdMarker", uploads.empty() ? "" : uploads.back().id);
  add_text(res, "Prefix", prefix);
  add_text(res, "MaxUploads", std::to_string(max));
  add_text(res, "IsTruncated", truncated ? "true" : "false");
  for (const auto& u : uploads) {
    auto e = res.append_child("Upload");
    add_text(e, "Key", u.path.key);
    add_text(e, "UploadId", u.id);
    add_text(e.append_child("Initiator"), "ID", u.initiator);
    add_text(e, "StorageClass", "STANDARD");
    add_text(e, "Initiated", iso_time(u.initiated_ms));
  }
  return xml_response(c, doc);
}

}  // namespace atelier::s3
