#include "obs/s3_store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <pugixml.hpp>
#include <sstream>
#include <stdexcept>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/md5.h"
#include "obs/s3_wire.h"

namespace atelier::obs {

namespace {

constexpr size_t kPartSize = size_t(8) << 20;      // a writer's part, and the most it holds
constexpr size_t kFirstRange = size_t(1) << 20;    // what get() fetches at once
constexpr size_t kRange = size_t(4) << 20;         // what a reader fetches at a time after that
constexpr uint64_t kMaxCopy = uint64_t(5) << 30;   // CopyObject's limit; larger objects are copied through
constexpr const char* kEmptyMd5 = "d41d8cd98f00b204e9800998ecf8427e";
// After the last key under a folder (U+10FFFF, the largest code point): a
// start-after that skips a whole common prefix already listed.
constexpr std::string_view kPastFolder = "\xf4\x8f\xbf\xbf";

// Raw 16 bytes.
std::string md5_raw(std::string_view data) {
  crypto::Md5 m;
  m.update(data);
  return m.raw();
}

void check_path(const ObsPath& p) {
  if (!valid_bucket(p.bucket) || !valid_object_key(p.key)) throw bad_request("Invalid OBS path " + p.str());
}

// The checks writer() and copy() make of the object to write (as the local store's).
void check_object_key(const ObsPath& p) {
  check_path(p);
  if (p.key.empty()) throw bad_request("An object key is required.");
  if (p.key.back() == '/') throw bad_request("OBS path " + p.str() + " names a folder, not an object");
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// "bytes 0-1048575/73741824" -> 73741824.
std::optional<uint64_t> total_of(const std::string& content_range) {
  size_t slash = content_range.rfind('/');
  if (slash == std::string::npos || slash + 1 >= content_range.size()) return std::nullopt;
  std::string n = content_range.substr(slash + 1);
  if (n.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoull(n);
}

// Reads an object a range at a time (see s3_store.h).
class S3Reader : public ObjectReader {
 public:
  S3Reader(S3Client& client, ObsPath p, ObjectInfo info, std::string first)
      : client_(client), p_(std::move(p)), info_(std::move(info)), buf_(std::move(first)) {}
  size_t read(char* buf, size_t cap) override {
    if (pos_ >= info_.size) return 0;
    if (pos_ < at_ || pos_ >= at_ + buf_.size()) fetch(pos_);
    size_t n = std::min<uint64_t>(cap, at_ + buf_.size() - pos_);
    std::memcpy(buf, buf_.data() + (pos_ - at_), n);
    pos_ += n;
    return n;
  }
  uint64_t size() const override { return info_.size; }
  ObjectInfo info() const override { return info_; }
  void seek(uint64_t offset) override {
    if (offset > info_.size) throw std::out_of_range("seek past the end of object " + p_.key);
    pos_ = offset;
  }

 private:
  void fetch(uint64_t from) {
    uint64_t last = std::min<uint64_t>(from + kRange, info_.size) - 1;
    S3Call c{"GET", p_.bucket, p_.key};
    c.headers.emplace_back("Range", "bytes=" + std::to_string(from) + "-" + std::to_string(last));
    if (!info_.etag.empty()) c.headers.emplace_back("If-Match", "\"" + info_.etag + "\"");
    c.max_body = kRange;
    S3Answer a = client_.send(c);
    if (a.status == 412 || a.status == 404)
      throw std::runtime_error("object " + p_.str() + " was replaced or removed while it was read");
    if (a.status != 206 && a.status != 200) throw s3wire::refusal(a, p_.str(), client_.where());
    // A service that honours no If-Match still names the version it sent.
    std::string etag = s3wire::unquote(a.headers.get("ETag"));
    if (!info_.etag.empty() && !etag.empty() && etag != info_.etag)
      throw std::runtime_error("object " + p_.str() + " was replaced while it was read");
    if (a.status == 200) from = 0;  // a service that ignores ranges: the whole (small) object
    if (a.too_large || a.body.empty()) throw std::runtime_error("object " + p_.str() + ": the object store sent a wrong range");
    at_ = from;
    buf_ = std::move(a.body);
  }

  S3Client& client_;
  ObsPath p_;
  ObjectInfo info_;
  std::string buf_;  // bytes [at_, at_ + buf_.size()) of the object
  uint64_t at_ = 0, pos_ = 0;
};

// An upload (see s3_store.h): one PUT, or a multipart upload once the
// content outgrows one part.
class S3Writer : public ObjectWriter {
 public:
  S3Writer(S3Client& client, ObsPath p, PutOptions o) : client_(client), p_(std::move(p)), o_(std::move(o)) {}
  ~S3Writer() override { abort(); }
  void write(const char* data, size_t n) override {
    if (done_) throw std::runtime_error("object writer used after commit or a failure");
    md5_.update(std::string_view(data, n));
    total_ += n;
    // The buffer holds one part and a byte at most: a part goes only when
    // more follows it, so the last part is never empty.
    while (n > 0) {
      size_t take = std::min(n, kPartSize + 1 - buf_.size());
      buf_.append(data, take);
      data += take;
      n -= take;
      if (buf_.size() > kPartSize) {
        send_part(std::string_view(buf_).substr(0, kPartSize));
        buf_.erase(0, kPartSize);
      }
    }
  }
  ObjectInfo commit() override;

 private:
  [[noreturn]] void fail(const ApiError& e) {
    done_ = true;
    abort();
    throw e;
  }
  void start();
  void send_part(std::string_view part);
  ObjectInfo put_whole(const std::string& md5);
  ObjectInfo complete();
  void abort();

  S3Client& client_;
  ObsPath p_;
  PutOptions o_;
  crypto::Md5 md5_;
  std::string buf_;
  uint64_t total_ = 0;
  bool done_ = false;
  std::string upload_id_;           // of the multipart upload, once there is one
  std::vector<std::string> etags_;  // of its parts, in order
};

ObjectInfo S3Writer::commit() {
  if (done_) throw std::runtime_error("object writer used after commit or a failure");
  done_ = true;
  std::string md5 = md5_.raw();
  if (!o_.expect_md5.empty() && lower(o_.expect_md5) != crypto::hex(md5))
    fail(ApiError(400, "BadDigest", "The Content-MD5 you specified did not match what was received."));
  ObjectInfo info = upload_id_.empty() ? put_whole(md5) : complete();
  info.key = p_.key;
  info.size = total_;
  info.content_type = o_.content_type;
  info.metadata = o_.metadata;
  return info;
}

// The whole content in one PUT, its MD5 (raw, `md5`) checked by the service.
ObjectInfo S3Writer::put_whole(const std::string& md5) {
  S3Call c{"PUT", p_.bucket, p_.key};
  c.headers = s3wire::put_headers(o_);
  c.headers.emplace_back("Content-MD5", crypto::base64(md5));
  c.body = buf_;
  S3Answer a = client_.send(c);
  if (a.status != 200) fail(s3wire::refusal(a, p_.str(), client_.where()));
  ObjectInfo info;
  info.etag = s3wire::unquote(a.headers.get("ETag"));
  if (info.etag.empty()) info.etag = crypto::hex(md5);
  info.mtime_ms = s3wire::modified_ms(a.headers);
  buf_.clear();
  return info;
}

void S3Writer::start() {
  S3Call c{"POST", p_.bucket, p_.key, {{"uploads", ""}}};
  c.headers = s3wire::put_headers(o_);
  c.idempotent = false;  // a second one would leave an upload nobody completes
  S3Answer a = client_.send(c);
  if (a.status != 200) fail(s3wire::refusal(a, p_.str(), client_.where()));
  pugi::xml_document doc;
  doc.load_buffer(a.body.data(), a.body.size());
  upload_id_ = doc.child("InitiateMultipartUploadResult").child("UploadId").text().get();
  if (upload_id_.empty()) fail(internal_error("The object store at " + client_.where() + " started no multipart upload for " + p_.str()));
}

// A part is a whole request body, so it may be sent again: retried like a GET.
void S3Writer::send_part(std::string_view part) {
  if (upload_id_.empty()) start();
  std::string number = std::to_string(etags_.size() + 1);
  S3Call c{"PUT", p_.bucket, p_.key, {{"partNumber", number}, {"uploadId", upload_id_}}};
  std::string md5 = md5_raw(part);
  c.headers.emplace_back("Content-MD5", crypto::base64(md5));
  c.body = part;
  S3Answer a;
  try {
    a = client_.send(c);
  } catch (const ApiError& e) {
    fail(e);
  }
  if (a.status != 200) fail(s3wire::refusal(a, p_.str() + " (part " + number + ")", client_.where()));
  std::string etag = s3wire::unquote(a.headers.get("ETag"));
  etags_.push_back(etag.empty() ? crypto::hex(md5) : etag);
}

ObjectInfo S3Writer::complete() {
  send_part(buf_);
  buf_.clear();
  pugi::xml_document doc;
  auto root = doc.append_child("CompleteMultipartUpload");
  for (size_t i = 0; i < etags_.size(); ++i) {
    auto part = root.append_child("Part");
    part.append_child("PartNumber").text() = std::to_string(i + 1).c_str();
    part.append_child("ETag").text() = ("\"" + etags_[i] + "\"").c_str();
  }
  std::ostringstream xml;
  doc.save(xml, "", pugi::format_raw);
  std::string body = xml.str();
  S3Call c{"POST", p_.bucket, p_.key, {{"uploadId", upload_id_}}};
  c.body = body;
  c.idempotent = false;  // tried again after it took effect, it would find no upload
  S3Answer a;
  try {
    a = client_.send(c);
  } catch (const ApiError& e) {
    fail(e);
  }
  // An S3 service may answer 200 and only then find it failed: the body says.
  pugi::xml_document answer;
  answer.load_buffer(a.body.data(), a.body.size());
  if (a.status != 200 || answer.child("Error")) {
    if (a.status == 200) {
      a.code = answer.child("Error").child("Code").text().get();
      a.message = answer.child("Error").child("Message").text().get();
    }
    fail(s3wire::refusal(a, p_.str(), client_.where()));
  }
  upload_id_.clear();  // done: nothing to abort
  ObjectInfo info;
  info.etag = s3wire::unquote(answer.child("CompleteMultipartUploadResult").child("ETag").text().get());
  info.mtime_ms = s3wire::modified_ms(a.headers);
  return info;
}

// Drops the parts sent so far; a failure here leaves them to the service's
// own expiry of unfinished uploads.
void S3Writer::abort() {
  if (upload_id_.empty()) return;
  S3Call c{"DELETE", p_.bucket, p_.key, {{"uploadId", upload_id_}}};
  upload_id_.clear();
  try {
    client_.send(c);
  } catch (const std::exception&) {
  }
}

// Reads whole objects in one GET each (imports read many small files).
class S3Scanner : public Scanner {
 public:
  S3Scanner(ObjectStore& store, S3Client& client) : Scanner(store), client_(client) {}
  std::optional<std::string> get_all(const ObsPath& p) override {
    check_path(p);
    if (p.key.empty() || p.key.back() == '/') return std::nullopt;  // folders have no content
    S3Call c{"GET", p.bucket, p.key};
    c.max_body = kMaxScanned;
    S3Answer a = client_.send(c);
    if (a.status == 404) return std::nullopt;
    if (a.status != 200) throw s3wire::refusal(a, p.str(), client_.where());
    if (a.too_large) throw too_large(p);
    return std::move(a.body);
  }

 private:
  S3Client& client_;
};

class S3Store : public ObjectStore {
 public:
  explicit S3Store(const S3Endpoint& e) : client_(e) {}

  void create_bucket(const std::string& bucket) override;
  bool bucket_exists(const std::string& bucket) override;
  bool remove_bucket(const std::string& bucket) override;
  std::vector<std::string> buckets() override;
  ObjectInfo put(const ObsPath& p, const Source& src, Durability d) override;
  std::unique_ptr<ObjectWriter> writer(const ObsPath& p, const PutOptions& o, Durability d) override;
  std::optional<ObjectInfo> copy(const ObsPath& from, const ObsPath& to,
                                 const std::optional<PutOptions>& replace) override;
  void sync() override {}  // every put was durable when it returned
  std::unique_ptr<ObjectReader> get(const ObsPath& p) override;
  std::optional<ObjectInfo> head(const ObsPath& p) override;
  std::unique_ptr<Scanner> scanner() override { return std::make_unique<S3Scanner>(*this, client_); }
  bool remove(const ObsPath& p) override;
  ListResult list(const std::string& bucket, const std::string& prefix, const std::string& delimiter,
                  const std::string& marker, size_t max_keys) override;

 private:
  [[noreturn]] void refused(const S3Answer& a, const std::string& what) {
    throw s3wire::refusal(a, what, client_.where());
  }
  S3Answer send(S3Call c) { return client_.send(c); }

  S3Client client_;
};

// Idempotent, as the seam wants. A location is named unless it is
// us-east-1, where S3 wants none.
void S3Store::create_bucket(const std::string& bucket) {
  if (!valid_bucket(bucket)) throw bad_request("Invalid bucket name: " + bucket);
  S3Call c{"PUT", bucket};
  std::string body;
  const std::string& region = client_.endpoint().settings.region;
  if (!region.empty() && region != "us-east-1") {
    body = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
           region + "</LocationConstraint></CreateBucketConfiguration>";
    c.body = body;
  }
  S3Answer a = send(c);
  if (a.status == 200 || a.code == "BucketAlreadyOwnedByYou") return;
  // Some services say BucketAlreadyExists of a bucket of the caller's own:
  // one this key can reach is ours.
  if (a.code == "BucketAlreadyExists") {
    if (send({"HEAD", bucket}).status == 200) return;
    throw ApiError(409, "BucketAlreadyExists", "Bucket " + bucket + " belongs to another account of the object store");
  }
  refused(a, "bucket " + bucket);
}

bool S3Store::bucket_exists(const std::string& bucket) {
  if (!valid_bucket(bucket)) return false;
  S3Answer a = send({"HEAD", bucket});
  if (a.status == 200) return true;
  if (a.status == 404) return false;
  refused(a, "bucket " + bucket);
}

// DeleteBucket removes only an empty bucket (409 BucketNotEmpty otherwise).
bool S3Store::remove_bucket(const std::string& bucket) {
  if (!valid_bucket(bucket)) return false;
  S3Answer a = send({"DELETE", bucket});
  if (a.status == 204 || a.status == 200) return true;
  if (a.status == 404 || a.status == 409) return false;
  refused(a, "bucket " + bucket);
}

std::vector<std::string> S3Store::buckets() {
  S3Answer a = send({"GET"});
  if (a.status != 200) refused(a, "the list of buckets");
  pugi::xml_document doc;
  doc.load_buffer(a.body.data(), a.body.size());
  std::vector<std::string> out;
  for (auto b : doc.child("ListAllMyBucketsResult").child("Buckets").children("Bucket")) {
    std::string name = b.child("Name").text().get();
    if (valid_bucket(name)) out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A folder marker is a zero-byte object; anything else goes through a
// writer, whose PUT finds a missing bucket (no HEAD of the bucket first).
ObjectInfo S3Store::put(const ObsPath& p, const Source& src, Durability) {
  check_path(p);
  if (p.key.empty()) throw bad_request("An object key is required.");
  if (p.key.back() == '/') {
    S3Call c{"PUT", p.bucket, p.key};
    c.headers.emplace_back("Content-MD5", crypto::base64(md5_raw("")));
    S3Answer a = send(c);
    if (a.status != 200) refused(a, p.str());
    ObjectInfo info;
    info.key = p.key;
    info.etag = kEmptyMd5;
    info.mtime_ms = s3wire::modified_ms(a.headers);
    return info;
  }
  S3Writer w(client_, p, PutOptions{});
  std::unique_ptr<char[]> buf(new char[1 << 16]);
  while (size_t n = src(buf.get(), 1 << 16)) w.write(buf.get(), n);
  return w.commit();
}

// The bucket is asked for now, so that a missing one fails here (404) as
// the seam promises, not at commit.
std::unique_ptr<ObjectWriter> S3Store::writer(const ObsPath& p, const PutOptions& o, Durability) {
  check_object_key(p);
  s3wire::check_options(o);
  if (!bucket_exists(p.bucket)) throw not_found("Bucket " + p.bucket + " does not exist");
  return std::make_unique<S3Writer>(client_, p, o);
}

// The first range comes with what describes the object (a GET of a range
// answers with the headers a HEAD would), so a small object is one request.
std::unique_ptr<ObjectReader> S3Store::get(const ObsPath& p) {
  check_path(p);
  if (p.key.empty() || p.key.back() == '/') return nullptr;  // folders have no content
  S3Call c{"GET", p.bucket, p.key};
  c.headers.emplace_back("Range", "bytes=0-" + std::to_string(kFirstRange - 1));
  c.max_body = kFirstRange;
  S3Answer a = send(c);
  if (a.status == 416) {  // an empty object, where a service refuses any range of one
    c.headers.clear();
    a = send(c);
  }
  if (a.status == 404) return nullptr;
  if (a.status != 200 && a.status != 206) refused(a, p.str());
  if (a.too_large) throw std::runtime_error("object " + p.str() + ": the object store ignored the range asked for");
  ObjectInfo info = s3wire::info_of(p.key, a.headers);
  auto total = a.status == 206 ? total_of(a.headers.get("Content-Range")) : std::optional<uint64_t>(a.body.size());
  if (!total) throw std::runtime_error("object " + p.str() + ": the object store sent no Content-Range");
  info.size = *total;
  return std::make_unique<S3Reader>(client_, p, std::move(info), std::move(a.body));
}

std::optional<ObjectInfo> S3Store::head(const ObsPath& p) {
  check_path(p);
  if (p.key.empty()) return std::nullopt;
  S3Answer a = send({"HEAD", p.bucket, p.key});
  if (a.status == 404) return std::nullopt;
  if (a.status != 200) refused(a, p.str());
  ObjectInfo info = s3wire::info_of(p.key, a.headers);
  const std::string& length = a.headers.get("Content-Length");
  info.size = length.empty() || length.find_first_not_of("0123456789") != std::string::npos ? 0 : std::stoull(length);
  return info;
}

// DeleteObject answers alike whether or not there was an object; the HEAD
// before it tells which.
bool S3Store::remove(const ObsPath& p) {
  check_path(p);
  if (p.key.empty() || !head(p)) return false;
  S3Answer a = send({"DELETE", p.bucket, p.key});
  if (a.status == 404) return false;
  if (a.status != 204 && a.status != 200) refused(a, p.str());
  return true;
}

// CopyObject on the service, its metadata always given (REPLACE): a copy
// onto itself is then legal, and every service keeps what was asked for.
std::optional<ObjectInfo> S3Store::copy(const ObsPath& from, const ObsPath& to,
                                        const std::optional<PutOptions>& replace) {
  check_object_key(to);
  if (replace) s3wire::check_options(*replace);
  check_path(from);
  if (from.key.empty() || from.key.back() == '/') return std::nullopt;  // folders have no content
  auto source = head(from);
  if (!source) return std::nullopt;
  if (source->size > kMaxCopy) return ObjectStore::copy(from, to, replace);
  PutOptions o = replace ? *replace : PutOptions{source->content_type, source->metadata, "", ""};
  S3Call c{"PUT", to.bucket, to.key};
  c.headers = s3wire::put_headers(o);
  c.headers.emplace_back("x-amz-copy-source", "/" + from.bucket + "/" + encode_key(from.key));
  c.headers.emplace_back("x-amz-metadata-directive", "REPLACE");
  S3Answer a = send(c);
  pugi::xml_document doc;
  doc.load_buffer(a.body.data(), a.body.size());
  if (a.status == 200 && doc.child("Error")) {  // failed after the 200 was sent
    a.status = 500;
    a.code = doc.child("Error").child("Code").text().get();
  }
  if (a.status == 404) {
    if (!bucket_exists(to.bucket)) throw not_found("Bucket " + to.bucket + " does not exist");
    return std::nullopt;  // the source went meanwhile
  }
  if (a.status != 200) refused(a, to.str());
  auto result = doc.child("CopyObjectResult");
  ObjectInfo info;
  info.key = to.key;
  info.size = source->size;
  info.etag = s3wire::unquote(result.child("ETag").text().get());
  if (info.etag.empty()) info.etag = source->etag;
  auto t = clock::parse_iso(result.child("LastModified").text().get());
  info.mtime_ms = t ? *t / 1000 * 1000 : s3wire::modified_ms(a.headers);
  info.content_type = std::move(o.content_type);
  info.metadata = std::move(o.metadata);
  return info;
}

namespace {

// The part of a listing's text as sent: percent-decoded when the service
// honoured encoding-type=url (it says so), as it is otherwise.
std::string listed(const char* text, bool url) {
  std::string out;
  if (!url || !http::percent_decode(text, out)) return text;
  return out;
}

}  // namespace

// ListObjectsV2. The marker is a key (or a common prefix this listing
// returned, which start-after would not skip: then everything under it is).
ListResult S3Store::list(const std::string& bucket, const std::string& prefix, const std::string& delimiter,
                         const std::string& marker, size_t max_keys) {
  if (!valid_bucket(bucket)) throw bad_request("Invalid bucket name: " + bucket);
  if (!valid_object_key(prefix)) throw bad_request("Invalid parameter prefix");
  max_keys = std::clamp<size_t>(max_keys, 1, 1000);
  std::string after = marker;
  if (!delimiter.empty() && marker.size() > prefix.size() && marker.compare(0, prefix.size(), prefix) == 0 &&
      marker.find(delimiter, prefix.size()) == marker.size() - delimiter.size())
    after += kPastFolder;
  S3Call c{"GET", bucket, "", {{"list-type", "2"}, {"max-keys", std::to_string(max_keys)}, {"encoding-type", "url"}}};
  if (!prefix.empty()) c.query.emplace_back("prefix", prefix);
  if (!delimiter.empty()) c.query.emplace_back("delimiter", delimiter);
  if (!after.empty()) c.query.emplace_back("start-after", after);
  S3Answer a = send(c);
  ListResult out;
  if (a.status == 404) return out;  // no such bucket: nothing in it
  if (a.status != 200) refused(a, "the listing of bucket " + bucket);
  pugi::xml_document doc;
  doc.load_buffer(a.body.data(), a.body.size());
  auto root = doc.child("ListBucketResult");
  bool url = std::string_view(root.child("EncodingType").text().get()) == "url";
  // Objects and common prefixes in one key order, cut at max_keys here too:
  // a service may send more than asked for (s3rver does with a delimiter).
  std::vector<std::pair<std::string, pugi::xml_node>> entries;
  for (auto e : root.children("Contents")) entries.emplace_back(listed(e.child("Key").text().get(), url), e);
  for (auto e : root.children("CommonPrefixes")) entries.emplace_back(listed(e.child("Prefix").text().get(), url), pugi::xml_node());
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.first < b.first; });
  out.truncated = root.child("IsTruncated").text().as_bool() || entries.size() > max_keys;
  if (entries.size() > max_keys) entries.resize(max_keys);
  for (auto& [name, e] : entries) {
    if (!e) {
      out.common_prefixes.push_back(name);
      continue;
    }
    if (name.empty() || !valid_object_key(name)) continue;
    ObjectInfo o;
    o.key = name;
    o.size = e.child("Size").text().as_ullong();
    o.etag = s3wire::unquote(e.child("ETag").text().get());
    auto t = clock::parse_iso(e.child("LastModified").text().get());
    o.mtime_ms = t ? *t / 1000 * 1000 : 0;  // whole seconds, as head() has them
    out.objects.push_back(std::move(o));
  }
  if (!out.truncated) return out;
  if (entries.empty()) throw internal_error("The object store at " + client_.where() + " sent an empty, truncated listing");
  out.next_marker = entries.back().first;
  return out;
}

}  // namespace

std::unique_ptr<ObjectStore> open_s3_store(const S3Endpoint& e) {
  if (e.settings.access_key.empty() || e.settings.secret_key.empty())
    throw std::runtime_error("the s3:// object store needs object_store_access_key and object_store_secret_key");
  return std::make_unique<S3Store>(e);
}

S3Endpoint parse_s3_url(const std::string& url, const RemoteSettings& remote) {
  auto bad = [&] {
    return std::runtime_error("object_store '" + url + "': expected s3://HOST:PORT (an S3-compatible service)");
  };
  if (url.rfind("s3://", 0) != 0) throw bad();
  std::string rest = url.substr(5);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  S3Endpoint e;
  e.settings = remote;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]
    size_t close = rest.find(']');
    if (close == std::string::npos) throw bad();
    e.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') throw bad();
    if (!rest.empty()) port = rest.substr(1);
  } else {
    size_t colon = rest.find(':');
    e.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
    if (colon != std::string::npos && port.empty()) throw bad();
  }
  if (e.host.empty() || e.host.find_first_of("/?#@ ") != std::string::npos) throw bad();
  if (port.empty()) {
    e.port = remote.tls ? 443 : 80;
  } else {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) == 0 ||
        std::stoul(port) > 65535)
      throw bad();
    e.port = uint16_t(std::stoul(port));
  }
  return e;
}

}  // namespace atelier::obs
