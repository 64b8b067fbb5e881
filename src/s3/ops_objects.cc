// Object operations: put (streamed), get (streamed, ranges, conditions),
// head, delete, multi-delete, copy.
#include <pugixml.hpp>
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "s3/operations.h"

namespace atelier::s3 {

namespace {

// What an answer made after the Call is gone needs to know of it.
struct Reply {
  std::string request_id, resource, op;
  bool object = true;
  Dialect dialect;
  http::Response error(const std::exception& e) const {
    if (auto* a = dynamic_cast<const ApiError*>(&e)) {
      auto [status, code] = s3_code(*a, op, object);
      return error_response(status, code, a->what(), resource, request_id, dialect);
    }
    spdlog::error("request {}: object upload failed: {}", request_id, e.what());
    return error_response(500, "InternalError", "We encountered an internal error. Please try again.", resource,
                          request_id, dialect);
  }
};

// An upload's body on its way to the store. Data reaches `write` before its
// signature is checked (a chunk is verified at its end, a whole-body hash
// at the end of the body), so `commit` runs only after every check passed;
// until then the store keeps it invisible, and a refused upload leaves
// nothing behind.
class UploadSink : public http::BodySink {
 public:
  UploadSink(const Call& c, std::function<void(const char*, size_t)> write, std::function<std::string()> commit,
             uint64_t limit)
      : reply_{c.req.request_id, c.resource(), c.op.name, true, c.dialect},
        log_{c.req.method, c.op.name, c.req.request_id, c.caller.user_id, c.req.remote_addr},
        prefix_(c.prefix()),
        auth_(c.auth),
        write_(std::move(write)),
        commit_(std::move(commit)),
        limit_(limit) {
    if (auth_.payload == Payload::kStreamingSigned)
      decoder_.emplace(*auth_.chunks, auth_.decoded_content_length, [this](std::string_view s) { take(s); });
  }

  void write(const char* data, size_t n) override {
    try {
      if (decoder_) return decoder_->feed({data, n});
      if (auth_.payload == Payload::kSha256) sha_.update({data, n});
      take({data, n});
    } catch (const std::exception& e) {
      failure_ = reply_.error(e);
      throw;
    }
  }

  std::optional<http::Response> refused() override {
    log_.write(failure_ ? failure_->status : 500);
    logged_ = true;
    return std::move(failure_);
  }

  http::Response finish() override {
    http::Response out;
    try {
      if (decoder_) decoder_->finish();
      if (auth_.payload == Payload::kSha256 && sha_.final_hex() != auth_.payload_sha256)
        throw S3Error(400, "XAmzContentSHA256Mismatch",
                      "The provided 'x-amz-content-sha256' header does not match what was computed.");
      out.headers.add("ETag", etag_value(commit_()));
      out.headers.add(prefix_ + "request-id", reply_.request_id);
    } catch (const std::exception& e) {
      out = reply_.error(e);
    }
    log_.write(out.status);
    logged_ = true;
    return out;
  }

  // The body will not come whole (the client left or stalled): logged as
  // the 400 S3 answers a short body with; the writer discards the rest.
  void abort(std::string_view) noexcept override {
    if (logged_) return;
    try {
      log_.write(400);
    } catch (...) {
    }
  }

 private:
  void take(std::string_view s) {
    received_ += s.size();
    if (received_ > limit_)
      throw S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.");
    write_(s.data(), s.size());
  }

  Reply reply_;
  AccessLine log_;
  std::string prefix_;  // of the answer's headers (Call::prefix)
  bool logged_ = false;
  AuthResult auth_;
  std::function<void(const char*, size_t)> write_;
  std::function<std::string()> commit_;  // the ETag of what it made visible
  uint64_t limit_;
  uint64_t received_ = 0;
  std::optional<ChunkDecoder> decoder_;
  crypto::Sha256 sha_;
  std::optional<http::Response> failure_;
};

// A byte range of an object for GET: [first, last].
struct Range {
  uint64_t first = 0, last = 0;
};
// The Range header against an object of `size` bytes: nullopt for the whole
// object (no header, or one this server serves whole: several ranges);
// InvalidRange (416) when it cannot be satisfied.
std::optional<Range> parse_range(const std::string& h, uint64_t size) {
  if (h.empty() || !h.starts_with("bytes=") || h.find(',') != std::string::npos) return std::nullopt;
  std::string spec = h.substr(6);
  size_t dash = spec.find('-');
  if (dash == std::string::npos) return std::nullopt;
  auto num = [](const std::string& s, uint64_t& out) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = std::stoull(s);
    return true;
  };
  std::string a = spec.substr(0, dash), b = spec.substr(dash + 1);
  uint64_t x = 0, y = 0;
  auto unsatisfiable = S3Error(416, "InvalidRange", "The requested range is not satisfiable");
  if (a.empty()) {  // the last y bytes
    if (!num(b, y)) return std::nullopt;
    if (y == 0 || size == 0) throw unsatisfiable;
    return Range{size - std::min(y, size), size - 1};
  }
  if (!num(a, x)) return std::nullopt;
  if (!b.empty() && (!num(b, y) || y < x)) return std::nullopt;
  if (x >= size) throw unsatisfiable;
  return Range{x, b.empty() ? size - 1 : std::min(y, size - 1)};
}

class ReaderSource : public http::BodySource {
 public:
  ReaderSource(std::unique_ptr<obs::ObjectReader> r, uint64_t left) : r_(std::move(r)), left_(left) {}
  size_t read(char* buf, size_t cap) override {
    if (left_ == 0) return 0;
    size_t n = r_->read(buf, std::min<uint64_t>(cap, left_));
    left_ -= n;
    return n;
  }

 private:
  std::unique_ptr<obs::ObjectReader> r_;
  uint64_t left_;
};

// The response-* query parameters a (presigned) GET may override headers with.
void apply_overrides(const http::Request& req, http::Headers& h) {
  static const std::pair<const char*, const char*> names[] = {
      {"response-content-type", "Content-Type"},         {"response-content-language", "Content-Language"},
      {"response-expires", "Expires"},                   {"response-cache-control", "Cache-Control"},
      {"response-content-disposition", "Content-Disposition"}, {"response-content-encoding", "Content-Encoding"}};
  for (auto [param, header] : names)
    if (auto* v = req.query_param(param)) h.set(header, *v);
}

}  // namespace

std::shared_ptr<http::BodySink> Ops::upload_sink(Call& c, std::function<void(const char*, size_t)> write,
                                                 std::function<std::string()> commit) {
  return std::make_shared<UploadSink>(c, std::move(write), std::move(commit), o_.max_object_bytes);
}

std::shared_ptr<http::BodySink> Ops::put_object(Call& c) {
  need_bucket(c);
  auto options = put_options(c.req);
  if (c.key.back() == '/') {  // a folder marker: no content
    auto path = c.path();
    return upload_sink(
        c,
        [](const char*, size_t n) {
          if (n > 0)
            throw S3Error(400, "InvalidArgument", "A key ending in '/' is a folder and cannot have content here.");
        },
        [this, path] { return s_.objects.put(path, std::string_view()).etag; });
  }
  std::shared_ptr<obs::ObjectWriter> w = s_.objects.writer(c.path(), options);
  return upload_sink(c, [w](const char* d, size_t n) { w->write(d, n); }, [w] { return w->commit().etag; });
}

std::optional<http::Response> Ops::preconditions(const Call& c, const obs::ObjectInfo& info) {
  const auto& h = c.req.headers;
  auto matches = [&](const std::string& list) {
    if (list == "*") return true;
    for (size_t pos = 0; pos <= list.size();) {
      size_t comma = list.find(',', pos);
      std::string one = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      one.erase(0, one.find_first_not_of(" \t"));
      one.erase(one.find_last_not_of(" \t") + 1);
      if (one.starts_with("W/")) one.erase(0, 2);
      if (one.size() >= 2 && one.front() == '"') one = one.substr(1, one.size() - 2);
      if (!info.etag.empty() && one == info.etag) return true;
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    return false;
  };
  auto failed = [&](int status) {
    http::Response r;
    r.status = status;
    if (status == 412) return error_response(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", c.resource(), c.req.request_id, c.dialect);
    describe_object(c, info, r.headers);
    return r;
  };
  int64_t mtime_s = info.mtime_ms / 1000;
  if (h.has("If-Match") && !matches(h.get("If-Match"))) return failed(412);
  if (!h.has("If-Match") && h.has("If-Unmodified-Since"))
    if (auto t = parse_http_date(h.get("If-Unmodified-Since")); t && mtime_s > *t / 1000) return failed(412);
  if (h.has("If-None-Match") && matches(h.get("If-None-Match"))) return failed(304);
  if (!h.has("If-None-Match") && h.has("If-Modified-Since"))
    if (auto t = parse_http_date(h.get("If-Modified-Since")); t && mtime_s <= *t / 1000) return failed(304);
  return std::nullopt;
}

http::Response Ops::get_object(Call& c) {
  need_bucket(c);
  auto reader = c.key.back() == '/' ? nullptr : s_.objects.get(c.path());
  if (!reader) {
    if (c.key.back() == '/' && s_.objects.head(c.path())) {  // a folder marker: empty
      http::Response r;
      describe_object(c, *s_.objects.head(c.path()), r.headers);
      return r;
    }
    throw S3Error(404, "NoSuchKey", "The specified key does not exist.");
  }
  auto info = reader->info();
  if (auto answer = preconditions(c, info)) return std::move(*answer);
  http::Response r;
  describe_object(c, info, r.headers);
  auto range = parse_range(c.req.headers.get("Range"), info.size);
  uint64_t first = range ? range->first : 0, length = range ? range->last - range->first + 1 : info.size;
  if (range) {
    r.status = 206;
    r.headers.add("Content-Range", "bytes " + std::to_string(range->first) + "-" + std::to_string(range->last) + "/" +
                                       std::to_string(info.size));
    reader->seek(first);
  }
  apply_overrides(c.req, r.headers);
  r.content_length = length;
  r.source = std::make_shared<ReaderSource>(std::move(reader), length);
  return r;
}

http::Response Ops::head_object(Call& c) {
  need_bucket(c);
  auto info = s_.objects.head(c.path());
  if (!info) throw S3Error(404, "NoSuchKey", "The specified key does not exist.");  // answered without a body
  if (auto answer = preconditions(c, *info)) {
    answer->head_only = true;
    return std::move(*answer);
  }
  http::Response r;
  describe_object(c, *info, r.headers);
  apply_overrides(c.req, r.headers);
  r.head_only = true;
  r.content_length = info->size;
  return r;
}

http::Response Ops::delete_object(Call& c) {
  need_bucket(c);
  s_.objects.remove(c.path());  // absent or not, the answer is the same
  http::Response r;
  r.status = 204;
  r.headers.add(c.prefix() + "request-id", c.req.request_id);
  return r;
}

// Up to 1,000 keys; each one deleted or reported, the rest carry on.
http::Response Ops::delete_objects(Call& c) {
  need_bucket(c);
  if (c.req.headers.has("Content-MD5")) {
    std::string raw;
    if (!crypto::base64_decode(c.req.headers.get("Content-MD5"), raw) || crypto::hex(raw) != crypto::md5_hex(c.req.body))
      throw S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what was received.");
  }
  pugi::xml_document in;
  auto del = parse_body(in, c.req.body, "Delete");
  bool quiet = std::string_view(del.child("Quiet").text().get()) == "true";
  std::vector<std::string> keys;
  for (auto o : del.children("Object")) keys.push_back(o.child("Key").text().get());
  if (keys.empty() || keys.size() > 1000)
    throw S3Error(400, "MalformedXML", "A multi-delete names between 1 and 1000 objects.");
  pugi::xml_document out;
  auto res = out.append_child("DeleteResult");
  for (const auto& key : keys) {
    if (key.empty() || !obs::valid_object_key(key)) {
      auto e = res.append_child("Error");
      e.append_child("Key").text() = key.c_str();
      e.append_child("Code").text() = key.size() > 1024 ? "KeyTooLongError" : "InvalidArgument";
      e.append_child("Message").text() = "The key cannot name an object on this server.";
      continue;
    }
    s_.objects.remove({c.bucket, key});
    if (!quiet) res.append_child("Deleted").append_child("Key").text() = key.c_str();
  }
  return xml_response(c, out);
}

http::Response Ops::copy_object(Call& c) {
  need_bucket(c);
  std::string raw = c.req.headers.has("x-amz-copy-source") ? c.req.headers.get("x-amz-copy-source")
                                                             : c.req.headers.get("x-obs-copy-source");
  std::string decoded;
  http::percent_decode(raw.substr(0, raw.find('?')), decoded);
  if (!decoded.starts_with("/")) decoded = "/" + decoded;
  auto from = obs::parse_path(decoded, "x-amz-copy-source");  // checked when the call was admitted
  std::string directive = c.req.headers.get(c.prefix() + "metadata-directive");
  if (!directive.empty() && directive != "COPY" && directive != "REPLACE")
    throw S3Error(400, "InvalidArgument", "Unknown metadata directive.");
  bool replace = directive == "REPLACE";
  if (from.bucket == c.bucket && from.key == c.key && !replace)
    throw S3Error(400, "InvalidRequest",
                  "This copy request is illegal because it is trying to copy an object to itself without changing "
                  "the object's metadata, storage class, website redirect location or encryption attributes.");
  std::optional<obs::PutOptions> with;
  if (replace) with = put_options(c.req);
  auto info = s_.objects.copy(from, c.path(), with);
  if (!info) throw S3Error(404, "NoSuchKey", "The specified key does not exist.");
  pugi::xml_document doc;
  auto res = doc.append_child("CopyObjectResult");
  res.append_child("LastModified").text() = iso_time(info->mtime_ms).c_str();
  res.append_child("ETag").text() = etag_value(info->etag).c_str();
  return xml_response(c, doc);
}

}  // namespace atelier::s3
