// ListObjects, versions 1 (marker) and 2 (continuation token, start-after).
#include <pugixml.hpp>

#include "common/crypto.h"
#include "obs/object_store.h"
#include "s3/operations.h"

namespace atelier::s3 {

namespace {

std::string param(const http::Request& req, std::string_view name) {
  auto* v = req.query_param(name);
  return v ? *v : "";
}

// encoding-type=url: keys and prefixes percent-encoded ('/' kept), so that
// keys with characters XML cannot carry list safely.
std::string encoded(const std::string& s, bool url) {
  if (!url) return s;
  std::string out;
  size_t pos = 0;
  for (size_t slash; (slash = s.find('/', pos)) != std::string::npos; pos = slash + 1)
    out += http::percent_encode(s.substr(pos, slash - pos)) + "/";
  return out + http::percent_encode(s.substr(pos));
}

size_t max_keys(const http::Request& req) {
  auto* v = req.query_param("max-keys");
  if (!v) return 1000;
  if (v->empty() || v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos)
    throw S3Error(400, "InvalidArgument", "max-keys must be an integer between 0 and 2147483647.");
  return std::min<size_t>(std::stoul(*v), 1000);
}

void add_text(pugi::xml_node parent, const char* name, const std::string& value) {
  parent.append_child(name).text() = value.c_str();
}

}  // namespace

http::Response Ops::list_objects(Call& c) {
  need_bucket(c);
  const auto& req = c.req;
  bool v2 = param(req, "list-type") == "2";
  if (req.query_param("list-type") && !v2) throw S3Error(400, "InvalidArgument", "list-type must be 2.");
  std::string enc = param(req, "encoding-type");
  if (!enc.empty() && enc != "url") throw S3Error(400, "InvalidArgument", "Invalid Encoding Method specified in Request");
  bool url = enc == "url";
  std::string prefix = param(req, "prefix"), delimiter = param(req, "delimiter");
  size_t max = max_keys(req);
  std::string marker = v2 ? param(req, "start-after") : param(req, "marker");
  std::string token = param(req, "continuation-token");
  if (v2 && req.query_param("continuation-token")) {
    if (!crypto::base64_decode(token, marker) || marker.empty())
      throw S3Error(400, "InvalidArgument", "The continuation token provided is incorrect");
  }
  obs::ListResult page;
  if (max > 0) page = s_.objects.list(c.bucket, prefix, delimiter, marker, max);

  pugi::xml_document doc;
  auto root = doc.append_child("ListBucketResult");
  root.append_attribute("xmlns") = "http://s3.amazonaws.com/doc/2006-03-01/";
  add_text(root, "Name", c.bucket);
  add_text(root, "Prefix", encoded(prefix, url));
  if (v2) {
    if (req.query_param("continuation-token")) add_text(root, "ContinuationToken", token);
    if (req.query_param("start-after")) add_text(root, "StartAfter", encoded(param(req, "start-after"), url));
    add_text(root, "KeyCount", std::to_string(page.objects.size() + page.common_prefixes.size()));
  } else {
    add_text(root, "Marker", encoded(marker, url));
  }
  add_text(root, "MaxKeys", std::to_string(max));
  if (!delimiter.empty()) add_text(root, "Delimiter", encoded(delimiter, url));
  add_text(root, "IsTruncated", page.truncated ? "true" : "false");
  if (page.truncated) {
    if (v2) add_text(root, "NextContinuationToken", crypto::base64(page.next_marker));
    else add_text(root, "NextMarker", encoded(page.next_marker, url));
  }
  if (url) add_text(root, "EncodingType", "url");
  bool owner = !v2 || param(req, "fetch-owner") == "true";
  for (const auto& o : page.objects) {
    auto e = root.append_child("Contents");
    add_text(e, "Key", encoded(o.key, url));
    add_text(e, "LastModified", iso_time(o.mtime_ms));
    if (!o.etag.empty()) add_text(e, "ETag", etag_value(o.etag));
    add_text(e, "Size", std::to_string(o.size));
    if (owner) {
      auto ow = e.append_child("Owner");
      add_text(ow, "ID", c.caller.domain_id);
      add_text(ow, "DisplayName", c.caller.domain_name);
    }
    add_text(e, "StorageClass", "STANDARD");
  }
  for (const auto& p : page.common_prefixes) add_text(root.append_child("CommonPrefixes"), "Prefix", encoded(p, url));
  return xml_response(c, doc);
}

}  // namespace atelier::s3
