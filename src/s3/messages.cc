// What the object endpoint's answers share: XML documents, the error
// document, object headers, and the headers of a PUT.
#include <pugixml.hpp>
#include <spdlog/spdlog.h>

#include <ctime>
#include <sstream>

#include "common/clock.h"
#include "common/crypto.h"
#include "s3/operations.h"

namespace atelier::s3 {

namespace {
struct StringWriter : pugi::xml_writer {
  std::string out;
  void write(const void* data, size_t size) override { out.append(static_cast<const char*>(data), size); }
};

bool starts_with_ci(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (size_t i = 0; i < p.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) return false;
  return true;
}
}  // namespace

// The error an ApiError from elsewhere in Atelier becomes: S3 codes pass
// through; ModelArts and IAM codes are translated by their status.
std::pair<int, std::string> s3_code(const ApiError& e, std::string_view op, bool object) {
  const std::string& code = e.code();
  if (!code.starts_with("ModelArts.") && !code.starts_with("IAM.")) return {e.status(), code};
  if (op == "CreateBucket" && code == "ModelArts.4310") return {409, "BucketAlreadyExists"};
  switch (e.status()) {
    case 400: return {400, "InvalidArgument"};
    case 401:
    case 403: return {403, "AccessDenied"};
    case 404: return {404, object ? "NoSuchKey" : "NoSuchBucket"};
    case 409: return {409, "OperationAborted"};
    case 503: return {503, "ServiceUnavailable"};
    default: return {500, "InternalError"};
  }
}

void AccessLine::write(int status) const {
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  spdlog::info(R"({{"event":"access","listener":"obs","method":"{}","operation":"{}","status":{},"ms":{:.3f},"request_id":"{}","user":"{}","remote":"{}"}})",
               method, operation.empty() ? "-" : operation, status, ms, request_id, user, remote);
}

std::string xml_text(const pugi::xml_document& doc) {
  StringWriter w;
  doc.save(w, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + w.out;
}

http::Response xml_response(const Call& c, const pugi::xml_document& doc, int status) {
  http::Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/xml");
  r.headers.add(c.prefix() + "request-id", c.req.request_id);
  r.body = xml_text(doc);
  return r;
}

http::Response error_response(int status, const std::string& code, const std::string& message,
                              const std::string& resource, const std::string& request_id, Dialect d) {
  pugi::xml_document doc;
  auto e = doc.append_child("Error");
  e.append_child("Code").text() = code.c_str();
  e.append_child("Message").text() = message.c_str();
  if (!resource.empty()) e.append_child("Resource").text() = resource.c_str();
  e.append_child("RequestId").text() = request_id.c_str();
  e.append_child("HostId").text() = request_id.c_str();
  http::Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/xml");
  r.headers.add(d == Dialect::kObs ? "x-obs-request-id" : "x-amz-request-id", request_id);
  if (d == Dialect::kObs) r.headers.add("x-obs-error-code", code);
  r.body = xml_text(doc);
  return r;
}

pugi::xml_node parse_body(pugi::xml_document& doc, const std::string& body, const char* root) {
  auto res = doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
  auto node = doc.document_element();
  if (!res || std::string_view(node.name()) != root)
    throw S3Error(400, "MalformedXML",
                  "The XML you provided was not well-formed or did not validate against our published schema.");
  return node;
}

std::string iso_time(int64_t ms) {
  std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, int(ms % 1000));
  return buf;
}

std::map<std::string, std::string> user_metadata(const http::Request& req) {
  std::map<std::string, std::string> out;
  size_t total = 0;
  for (const auto& [name, value] : req.headers.items()) {
    std::string_view n = name;
    if (!starts_with_ci(n, "x-amz-meta-") && !starts_with_ci(n, "x-obs-meta-")) continue;
    std::string key(n.substr(11));
    for (auto& ch : key) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    total += key.size() + value.size();
    out[key] = value;
  }
  if (total > 2048)
    throw S3Error(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size (2 KB).");
  return out;
}

obs::PutOptions put_options(const http::Request& req) {
  obs::PutOptions o;
  o.content_type = req.headers.get("Content-Type");
  o.metadata = user_metadata(req);
  if (req.headers.has("Content-MD5")) {
    std::string raw;
    if (!crypto::base64_decode(req.headers.get("Content-MD5"), raw) || raw.size() != 16)
      throw S3Error(400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
    o.expect_md5 = crypto::hex(raw);
  }
  return o;
}

void describe_object(const Call& c, const obs::ObjectInfo& info, http::Headers& h) {
  if (!info.etag.empty()) h.add("ETag", etag_value(info.etag));
  h.add("Last-Modified", clock::rfc1123(info.mtime_ms));
  h.add("Content-Type", info.content_type.empty() ? "binary/octet-stream" : info.content_type);
  h.add("Accept-Ranges", "bytes");
  for (const auto& [k, v] : info.metadata) h.add(c.prefix() + "meta-" + k, v);
  h.add(c.prefix() + "request-id", c.req.request_id);
}

}  // namespace atelier::s3
