// Object storage as ModelArts sees it: OBS paths (/bucket/dir/file,
// obs://bucket/dir/file, s3://bucket/dir/file) resolved through one interface.
// The embedded backend keeps a bucket as a folder under the data dir; the S3
// backend keeps the objects on an S3-compatible service. Every key is checked so that it can
// never name anything outside its bucket.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace atelier::obs {

struct ObsPath {
  std::string bucket;
  std::string key;  // may be empty (the bucket itself) or end with '/' (a folder)
  std::string str() const { return "/" + bucket + "/" + key; }
};

// Parses and validates a client path. Throws ApiError (400, ModelArts.0101)
// naming `field` when the path is malformed or tries to escape its bucket.
ObsPath parse_path(std::string_view path, std::string_view field = "path");
// parse_path, or an OBS virtual-host URL https://<bucket>.obs.<region>.<domain>/<key>
// (where the console copies a folder's address from).
ObsPath parse_location(std::string_view path, std::string_view field = "path");
// Validates a bucket name (S3 rules: 3-63 of [a-z0-9.-], starting and ending alphanumeric).
bool valid_bucket(std::string_view bucket);
// Validates a key of a ModelArts path: no NUL, no "." or ".." segment, no
// empty segment (except a trailing '/'), no leading '/', at most 1024 bytes.
bool valid_key(std::string_view key);
// Validates a key as S3 clients may name objects: at most 1024 bytes, no NUL;
// '.', '..' and empty segments are ordinary names. Every backend stores
// such keys exactly (the local one escapes what its file system cannot hold).
bool valid_object_key(std::string_view key);

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  int64_t mtime_ms = 0;
  // Hex MD5 of the content (or "<hex>-<parts>" for an object assembled from
  // parts). Empty when the store does not know it (a file placed on the
  // local backend by hand; list may leave it out where it is costly).
  std::string etag;
  std::string content_type;  // as given at put; empty when none was
  // User metadata as given at put: names lower case, without the client's
  // x-amz-meta- / x-obs-meta- prefix.
  std::map<std::string, std::string> metadata;
};

// What a put records beside the content.
struct PutOptions {
  std::string content_type;
  std::map<std::string, std::string> metadata;  // names lower case, at most 2 KiB in all
  // Hex MD5 the content must have (a client's Content-MD5): a mismatch
  // discards the upload with ApiError 400 "BadDigest".
  std::string expect_md5;
  // When set, the etag recorded (and reported by commit, head and readers'
  // info) instead of the content's MD5: an object assembled from parts.
  // Only a backend that keeps ETags of its own records it (the local
  // store); the S3 backend reports the ETag its service gives (s3_store.h).
  std::string etag;
};

// A failed write for lack of space: 503, nothing left behind.
ApiError no_space(const std::string& what);

struct ListResult {
  std::vector<ObjectInfo> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string next_marker;  // pass back as `marker` to continue
};

// A stream of bytes: returns the number of bytes placed in buf, 0 at the end.
using Source = std::function<size_t(char* buf, size_t cap)>;

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  virtual size_t read(char* buf, size_t cap) = 0;  // 0 at the end
  virtual uint64_t size() const = 0;
  // What head() would say of the object being read (the same version).
  virtual ObjectInfo info() const = 0;
  // Moves to byte `offset` (<= size()) for a ranged read.
  virtual void seek(uint64_t offset) = 0;
};

// An object being written piece by piece (an upload streamed from a
// client). Nothing is visible under the object's name before commit(),
// which replaces any previous object atomically. Destroyed without
// commit(), it leaves nothing behind.
// REQUIRES: one thread at a time.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  // Throws no_space() when the disk is full, std::runtime_error on other failures.
  virtual void write(const char* data, size_t n) = 0;
  // Throws ApiError 400 BadDigest when PutOptions::expect_md5 disagrees.
  virtual ObjectInfo commit() = 0;
};

class ObjectStore;

// Reads many small objects quickly (imports read a VOC file and check a
// source per sample): it may keep folders open between calls, so a folder
// renamed or replaced meanwhile is seen as it was at its first use. Use one
// briefly (a batch), from one thread.
class Scanner {
 public:
  explicit Scanner(ObjectStore& store) : store_(store) {}
  virtual ~Scanner() = default;
  // Size and time as the store's head() gives them; the ETag, content type
  // and metadata may be left out (imports only ask whether a file is there).
  virtual std::optional<ObjectInfo> head(const ObsPath& p);
  // The whole content; nullopt when there is no such object. An object
  // larger than kMaxScanned is refused (400): annotation and label files
  // are small, and a client's huge file must not be read into memory.
  virtual std::optional<std::string> get_all(const ObsPath& p);
  static constexpr uint64_t kMaxScanned = uint64_t(64) << 20;
  // The 400 for an object over kMaxScanned.
  static ApiError too_large(const ObsPath& p);
  // get_all for content already in memory. Content the store would have to
  // wait for (a disk read) is not waited for: its reading starts, `pending`
  // is set and nullopt returned, and the caller does other work meanwhile
  // and asks get_all later, when the content has most likely arrived. A
  // store that cannot tell just reads.
  virtual std::optional<std::string> get_all_at_hand(const ObsPath& p, bool& pending) {
    pending = false;
    return get_all(p);
  }

 protected:
  ObjectStore& store_;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual void create_bucket(const std::string& bucket) = 0;  // idempotent
  virtual bool bucket_exists(const std::string& bucket) = 0;
  // Removes an empty bucket; false when it holds anything (or is absent).
  virtual bool remove_bucket(const std::string& bucket) = 0;
  // Every bucket, in byte order.
  virtual std::vector<std::string> buckets() = 0;
  // When a put is durable: before it returns (kNow), or at the next sync()
  // (kDeferred) — for tasks writing many files, which sync once at the end
  // and simply rewrite everything if they are interrupted.
  enum class Durability { kNow, kDeferred };
  // Streams `src` into the object, replacing it atomically when complete.
  virtual ObjectInfo put(const ObsPath& p, const Source& src, Durability d = Durability::kNow) = 0;
  ObjectInfo put(const ObsPath& p, std::string_view data, Durability d = Durability::kNow);
  // A writer for the object (see ObjectWriter); the bucket must exist (404
  // otherwise), the key must name an object, not a folder.
  virtual std::unique_ptr<ObjectWriter> writer(const ObsPath& p, const PutOptions& o, Durability d = Durability::kNow) = 0;
  // Copies an object's content; `replace` set gives the copy that content
  // type and metadata, else it keeps the source's. Nullopt when `from` does
  // not exist. The copy is complete or absent, as with put.
  virtual std::optional<ObjectInfo> copy(const ObsPath& from, const ObsPath& to, const std::optional<PutOptions>& replace);
  // Makes every deferred put durable.
  virtual void sync() = 0;
  // nullptr when the object does not exist.
  virtual std::unique_ptr<ObjectReader> get(const ObsPath& p) = 0;
  std::optional<std::string> get_all(const ObsPath& p);
  // Size and modification time without reading the content.
  virtual std::optional<ObjectInfo> head(const ObsPath& p) = 0;
  // Whether the object (or folder marker) exists: head() without what only
  // head() needs (ETag, metadata), for loops that only ask that.
  virtual bool exists(const ObsPath& p) { return head(p).has_value(); }
  virtual std::unique_ptr<Scanner> scanner() { return std::make_unique<Scanner>(*this); }
  // True when something was removed.
  virtual bool remove(const ObsPath& p) = 0;
  // Keys of `bucket` starting with `prefix`, after `marker`, in byte order;
  // with a delimiter, keys sharing the part up to it fold into common prefixes.
  virtual ListResult list(const std::string& bucket, const std::string& prefix,
                          const std::string& delimiter, const std::string& marker,
                          size_t max_keys) = 0;
  // Calls `fn` for every object under `prefix`, in key order, a page at a
  // time (fn may remove the object it is given).
  void each(const std::string& bucket, const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn);
};

// What a remote backend needs beside its URL (the object_store_* settings).
struct RemoteSettings {
  bool tls = false;  // https, the service's certificate checked
  // PEM file of the CAs the certificate is checked against; empty: the system's.
  std::string ca_file;
  std::string region = "us-east-1";
  std::string access_key, secret_key;
};

// Buckets live in `root/<bucket>`; partial uploads in `root/.tmp`.
std::unique_ptr<ObjectStore> open_local_store(const std::string& root);
// The backend a URL names: file:///absolute/folder or file://relative/folder
// (the local store), or s3://HOST:PORT (an S3-compatible service reached
// with `remote`: obs/s3_store.h). Throws std::runtime_error naming what is
// supported for any other scheme, and for a malformed URL.
std::unique_ptr<ObjectStore> open_store(const std::string& url, const RemoteSettings& remote = {});

}  // namespace atelier::obs
