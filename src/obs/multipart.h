// Multipart uploads, as the S3 protocol has them: an upload is opened for
// a key, its parts arrive in any order (a part uploaded again replaces the
// earlier one), and completing it assembles the chosen parts into the
// object in one atomic step; until then nothing is visible under the key.
// Works over any ObjectStore: the uploads and parts are rows of the
// metadata store, the parts' content files in a spool folder of the server.
//
// REQUIRES: `dir` is private to this server's data dir (several processes
// may share it: every name in it is unique). Failures a client caused are
// ApiErrors carrying S3 codes (NoSuchUpload, InvalidPart, InvalidPartOrder,
// EntityTooSmall, InvalidArgument) so that the object endpoint passes them on.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "obs/object_store.h"
#include "store/db.h"

namespace atelier::obs {

class Multipart {
 public:
  static constexpr int kMaxPartNumber = 10000;
  static constexpr uint64_t kMinPartSize = 5ull << 20;  // every part but the last
  static constexpr uint64_t kMaxPartSize = 5ull << 30;

  Multipart(store::Database& db, ObjectStore& objects, std::string dir);
  static std::vector<store::Migration> migrations();

  struct Upload {
    std::string id;
    ObsPath path;
    PutOptions options;      // for the object completion makes (expect_md5 unused)
    std::string initiator;   // user id
    int64_t initiated_ms = 0;
  };
  struct Part {
    int number = 0;
    uint64_t size = 0;
    std::string etag;  // hex MD5 of the part
    int64_t mtime_ms = 0;
  };

  Upload create(const ObsPath& p, const PutOptions& o, const std::string& initiator);
  // The upload `id` of exactly that bucket and key; nullopt when there is none.
  std::optional<Upload> find(const std::string& id, const ObsPath& p);

  // Receives one part's content. commit() makes it the upload's part of that
  // number (replacing an earlier one); destroyed without commit(), nothing changes.
  class PartWriter {
   public:
    virtual ~PartWriter() = default;
    virtual void write(const char* data, size_t n) = 0;  // no_space() when the disk is full
    // Throws NoSuchUpload when the upload was completed or aborted meanwhile,
    // BadDigest when expect_md5 (hex) disagrees, EntityTooLarge over kMaxPartSize.
    virtual Part commit() = 0;
  };
  // Throws InvalidArgument for a number outside 1..kMaxPartNumber.
  std::unique_ptr<PartWriter> part_writer(const Upload& u, int number, const std::string& expect_md5 = "");

  // Parts numbered above `after`, ascending, at most `max`; `truncated` tells whether more follow.
  std::vector<Part> parts(const Upload& u, int after, size_t max, bool& truncated);
  // Unfinished uploads of `bucket` whose key starts with `prefix`, by key then
  // initiation, after (key_marker, id_marker) as S3's ListMultipartUploads pages them.
  std::vector<Upload> uploads(const std::string& bucket, const std::string& prefix, const std::string& key_marker,
                              const std::string& id_marker, size_t max, bool& truncated);

  // Assembles the listed parts (number, etag; ascending numbers, each etag
  // that of the stored part, every part but the last at least kMinPartSize)
  // into the object, then forgets the upload. The object's etag is S3's:
  // hex MD5 of the parts' binary MD5s, "-", the number of parts.
  ObjectInfo complete(const Upload& u, const std::vector<std::pair<int, std::string>>& parts);
  // Forgets the upload and its parts; false when there was none.
  bool abort(const std::string& id);
  // Aborts uploads initiated before `before_ms`; returns how many.
  size_t clean(int64_t before_ms);

 private:
  store::Database& db_;
  ObjectStore& objects_;
  std::string dir_;
};

}  // namespace atelier::obs
