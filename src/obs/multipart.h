// Multipart uploads, as the S3 protocol has them: an upload is opened for
// a key, its parts arrive in any order (a part uploaded again replaces the
// earlier one), and completing it assembles the chosen parts into the
// object in one atomic step; until then nothing is visible under the key.
// Works over any ObjectStore: the uploads and parts are rows of the
// metadata store, the parts' content files in a spool folder of the server.
//
// REQUIRES: `dir` is private to this server's data dir (several processes
// may share it: every name in it is unique); it is created when missing.
// The migrations() are applied to `db`. Failures a client caused are
// ApiErrors carrying S3 codes (NoSuchUpload, InvalidPart, InvalidPartOrder,
// EntityTooSmall, EntityTooLarge, BadDigest, MalformedXML, InvalidArgument)
// so that the object endpoint passes them on; a full disk is no_space().
// Safe to use from several threads.
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

  // Removes files of `dir` untouched for an hour that no part names (left
  // by part uploads and removals a crash cut off).
  Multipart(store::Database& db, ObjectStore& objects, std::string dir);
  static std::vector<store::Migration> migrations();

  struct Upload {
    std::string id;
    ObsPath path;
    PutOptions options;      // for the object completion makes (expect_md5, etag unused)
    std::string initiator;   // user id
    int64_t initiated_ms = 0;
  };
  struct Part {
    int number = 0;
    uint64_t size = 0;
    std::string etag;  // hex MD5 of the part
    int64_t mtime_ms = 0;
  };

  // Throws InvalidArgument for a key that names no object (empty, a folder)
  // or options that are not UTF-8 text, NoSuchBucket for a missing bucket.
  Upload create(const ObsPath& p, const PutOptions& o, const std::string& initiator);
  // The upload `id` of exactly that bucket and key; nullopt when there is none.
  std::optional<Upload> find(const std::string& id, const ObsPath& p);

  // Receives one part's content. commit() makes it the upload's part of that
  // number (replacing an earlier one); destroyed without commit(), nothing changes.
  class PartWriter {
   public:
    virtual ~PartWriter() = default;
    // Throws no_space() when the disk is full, EntityTooLarge past
    // kMaxPartSize; either discards what was written.
    virtual void write(const char* data, size_t n) = 0;
    // Throws NoSuchUpload when the upload was completed or aborted meanwhile
    // (or is being completed), BadDigest when expect_md5 (hex) disagrees.
    virtual Part commit() = 0;
  };
  // Throws InvalidArgument for a number outside 1..kMaxPartNumber.
  std::unique_ptr<PartWriter> part_writer(const Upload& u, int number, const std::string& expect_md5 = "");

  // Parts numbered above `after`, ascending, at most `max`; `truncated` tells whether more follow.
  std::vector<Part> parts(const Upload& u, int after, size_t max, bool& truncated);
  // Unfinished uploads of `bucket` whose key starts with `prefix`, by key then
  // initiation, after (key_marker, id_marker) as S3's ListMultipartUploads
  // pages them; at most `max` (itself at most 10000).
  std::vector<Upload> uploads(const std::string& bucket, const std::string& prefix, const std::string& key_marker,
                              const std::string& id_marker, size_t max, bool& truncated);

  // Assembles the listed parts (number, etag; ascending numbers, each etag
  // that of the stored part, every part but the last at least kMinPartSize)
  // into the object, then forgets the upload. The object's etag is S3's:
  // hex MD5 of the parts' binary MD5s, "-", the number of parts; the object
  // keeps it (PutOptions::etag). An etag in the list may be quoted. Throws
  // MalformedXML for an empty list, InvalidPartOrder, InvalidPart or
  // EntityTooSmall for a list breaking those rules (the upload stays, to be
  // completed with a corrected list), NoSuchUpload when the upload is gone
  // or another completion of it is under way: of completions racing, one
  // makes the object, the others fail. A completion a crash cut off holds
  // the upload for at most ten minutes.
  ObjectInfo complete(const Upload& u, const std::vector<std::pair<int, std::string>>& parts);
  // Forgets the upload and its parts; false when there was none (or it is
  // being completed).
  bool abort(const std::string& id);
  // Aborts uploads initiated before `before_ms`; returns how many.
  size_t clean(int64_t before_ms);

 private:
  class FilePart;
  struct Stored {
    Part part;
    std::string file;  // in dir_
  };
  void sweep();
  bool named_by_a_part(const std::string& name);
  // The completion claim: taken (or NoSuchUpload), renewed while copying
  // (NoSuchUpload once lost), given back when the completion fails.
  int64_t claim(const std::string& id);
  void renew(const std::string& id, int64_t& claimed);
  void release(const std::string& id, int64_t claimed);
  std::vector<Stored> stored_parts(const std::string& id);
  static std::vector<Stored> chosen(const std::vector<std::pair<int, std::string>>& list, const std::vector<Stored>& stored);
  ObjectInfo assemble(const Upload& u, const std::vector<Stored>& parts, int64_t& claimed);

  store::Database& db_;
  ObjectStore& objects_;
  std::string dir_;
};

}  // namespace atelier::obs
