// Multipart uploads (see multipart.h): uploads and parts are rows of the
// metadata store, each part's content one file in the spool folder.
//
// A part's file is written under a temporary name, made durable, renamed to
// a name no other part ever has, and only then recorded: a row always names
// a complete file, and a part uploaded again replaces its row in one step,
// the replaced file being removed once nothing names it any more.
//
// Completion first claims the upload (one UPDATE only one caller can win),
// so that two completions, or a completion and an abort, never both act on
// it, and no part can change under it. The claim holds the time it was last
// renewed: a completion renews it while it copies, and one cut off by a
// crash is taken over once kClaimLeaseMs passed without renewal.
#include "common/md5.h"
#include "obs/multipart.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/json.h"

namespace fs = std::filesystem;

namespace atelier::obs {

namespace {

// A completion not renewed for this long was cut off (a crash) and may be
// taken over; a running one renews its claim every kClaimRenewMs.
constexpr int64_t kClaimLeaseMs = 10 * 60 * 1000;
constexpr int64_t kClaimRenewMs = 30 * 1000;
constexpr size_t kCopyBuffer = 1 << 20;
constexpr size_t kMaxListed = 10000;  // uploads in one page, whatever the caller asks

ApiError no_such_upload() {
  return ApiError(404, "NoSuchUpload",
                  "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                  "aborted or completed.");
}

ApiError invalid_part(const std::string& detail) {
  return ApiError(400, "InvalidPart",
                  "One or more of the specified parts could not be found. The part may not have been uploaded, or "
                  "the specified entity tag may not match the part's entity tag (" + detail + ").");
}

ApiError entity_too_large() {
  return ApiError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size: a part may hold at most " +
                                             std::to_string(Multipart::kMaxPartSize >> 20) + " MiB.");
}

// A failed write or sync: no_space() when the disk (or the quota) is full.
[[noreturn]] void io_failure(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) throw no_space(what);
  throw std::runtime_error(what + ": " + std::strerror(err));
}

// Closes the descriptor it holds.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};


std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// Raw bytes of lower-case hex (an etag the store wrote: always well formed).
std::string unhex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(char(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  return out;
}

// A client's etag as the store compares it: without the quotes S3 clients
// send it with, lower case.
std::string bare_etag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return lower(std::string(etag));
}

// Makes a rename or removal in `dir` durable.
void sync_dir(const std::string& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd < 0 || ::fsync(d.fd) != 0) io_failure("cannot sync the multipart folder " + dir, errno);
}

void remove_files(const std::string& dir, const std::vector<std::string>& names) {
  for (auto& n : names) ::unlink((dir + "/" + n).c_str());  // one already gone is no failure
}

std::string options_json(const PutOptions& o) {
  return json{{"content_type", o.content_type}, {"metadata", o.metadata}}.dump();
}

Multipart::Upload upload_of(const store::Row& r) {
  Multipart::Upload u;
  u.id = r.str("id");
  u.path = ObsPath{r.str("bucket"), r.str("object_key")};
  json o = json::parse(r.str("options"));
  u.options.content_type = o.value("content_type", "");
  u.options.metadata = o.value("metadata", std::map<std::string, std::string>{});
  u.initiator = r.str("initiator");
  u.initiated_ms = r.i64("initiated");
  return u;
}

}  // namespace

// multipart_uploads.options: the object's content type and metadata (JSON).
// multipart_uploads.claimed: 0 while the upload is open; else the time (ms)
// a completion claimed it or last renewed its claim.
// multipart_parts.file: the part's content, a file name in the spool folder.
//
// Object keys and upload ids compare byte by byte (S3 lists uploads in the
// keys' UTF-8 binary order): SQLite's default collation does; PostgreSQL's
// columns need COLLATE "C", hence its own script.
std::vector<store::Migration> Multipart::migrations() {
  const std::string script = R"SQL(
CREATE TABLE multipart_uploads (
  id TEXT<bytewise> PRIMARY KEY,
  bucket TEXT NOT NULL,
  object_key TEXT<bytewise> NOT NULL,
  options TEXT NOT NULL,
  initiator TEXT NOT NULL,
  initiated BIGINT NOT NULL,
  claimed BIGINT NOT NULL DEFAULT 0);
CREATE INDEX multipart_uploads_by_key ON multipart_uploads (bucket, object_key, initiated, id);
CREATE INDEX multipart_uploads_by_age ON multipart_uploads (initiated);
CREATE TABLE multipart_parts (
  upload_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  size BIGINT NOT NULL,
  etag TEXT NOT NULL,
  mtime BIGINT NOT NULL,
  file TEXT NOT NULL,
  PRIMARY KEY (upload_id, number));
)SQL";
  auto with = [&](const std::string& collation) {
    std::string out = script;
    for (size_t at; (at = out.find("<bytewise>")) != std::string::npos;) out.replace(at, 10, collation);
    return out;
  };
  return {{"obs/multipart/001_init", with(""), {{"postgresql", with(" COLLATE \"C\"")}}}};
}

Multipart::Multipart(store::Database& db, ObjectStore& objects, std::string dir)
    : db_(db), objects_(objects), dir_(std::move(dir)) {
  fs::create_directories(dir_);
  sweep();
}

// Removes files untouched for an hour that no part names: temporary files
// of part uploads cut off by a crash, and placed files a crash kept from
// being recorded, or from being removed once their part was replaced or
// forgotten. Newer files may belong to another process's upload under way.
void Multipart::sweep() {
  auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(1);
  std::vector<fs::path> stray;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir_, ec)) {
    std::error_code fec;
    auto when = e.last_write_time(fec);
    if (fec || !e.is_regular_file(fec) || when >= cutoff) continue;
    std::string name = e.path().filename().string();
    if (name.ends_with(".tmp") || !named_by_a_part(name)) stray.push_back(e.path());
  }
  for (auto& p : stray) fs::remove(p, ec);
}

// Whether a part's row names the file `name` (<upload id>.<number>.<random>).
bool Multipart::named_by_a_part(const std::string& name) {
  size_t a = name.find('.'), b = a == std::string::npos ? a : name.find('.', a + 1);
  if (b == std::string::npos) return false;
  int number = 0;
  try {
    number = std::stoi(name.substr(a + 1, b - a - 1));
  } catch (const std::exception&) {
    return false;
  }
  auto r = db_.query_one("SELECT file FROM multipart_parts WHERE upload_id = ? AND number = ?", {name.substr(0, a), number});
  return r && r->str("file") == name;
}

Multipart::Upload Multipart::create(const ObsPath& p, const PutOptions& o, const std::string& initiator) {
  if (!valid_bucket(p.bucket) || !valid_object_key(p.key) || p.key.empty() || p.key.back() == '/')
    throw ApiError(400, "InvalidArgument", "Invalid object name " + p.str());
  if (!objects_.bucket_exists(p.bucket)) throw ApiError(404, "NoSuchBucket", "The specified bucket does not exist.");
  bool text = valid_utf8(o.content_type);
  for (auto& [k, v] : o.metadata) text = text && valid_utf8(k) && valid_utf8(v);
  if (!text) throw ApiError(400, "InvalidArgument", "The content type and metadata must be UTF-8 text.");
  Upload u;
  u.path = p;
  u.options.content_type = o.content_type;
  u.options.metadata = o.metadata;
  u.initiator = initiator;
  u.initiated_ms = clock::now_ms();
  // The initiation time leads the id in fixed width, so that ids of one key
  // sort as the uploads were initiated: S3's upload-id-marker ("ids
  // greater") then pages in the listing's order. The rest is random:
  // knowing one upload's id tells nothing of another's.
  char ts[13];
  std::snprintf(ts, sizeof ts, "%012llx", static_cast<unsigned long long>(u.initiated_ms & 0xffffffffffffLL));
  u.id = std::string(ts) + crypto::random_hex(10);
  db_.exec("INSERT INTO multipart_uploads (id, bucket, object_key, options, initiator, initiated, claimed) "
           "VALUES (?, ?, ?, ?, ?, ?, 0)",
           {u.id, p.bucket, p.key, options_json(u.options), initiator, u.initiated_ms});
  return u;
}

std::optional<Multipart::Upload> Multipart::find(const std::string& id, const ObsPath& p) {
  auto r = db_.query_one("SELECT * FROM multipart_uploads WHERE id = ? AND bucket = ? AND object_key = ?",
                         {id, p.bucket, p.key});
  if (!r) return std::nullopt;
  return upload_of(*r);
}

// ------------------------------------------------------------ parts

// Writes to <dir>/<final name>.tmp; commit() renames it to the final name and
// records it. Destroyed before, it removes what it wrote.
class Multipart::FilePart : public Multipart::PartWriter {
 public:
  FilePart(Multipart& m, std::string upload_id, int number, std::string expect_md5)
      : m_(m), upload_id_(std::move(upload_id)), number_(number), expect_md5_(lower(std::move(expect_md5))) {
    name_ = upload_id_ + "." + std::to_string(number_) + "." + crypto::random_hex(8);
    tmp_ = m_.dir_ + "/" + name_ + ".tmp";
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      int err = errno;
      tmp_.clear();
      io_failure("cannot create a part file in " + m_.dir_, err);
    }
  }
  ~FilePart() override { discard(); }

  void write(const char* data, size_t n) override {
    if (fd_ < 0) throw std::logic_error("part writer used after commit or failure");
    if (n > kMaxPartSize - size_) {
      discard();
      throw entity_too_large();
    }
    md5_.update(std::string_view(data, n));
    for (size_t off = 0; off < n;) {
      ssize_t w = ::write(fd_, data + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        int err = errno;
        discard();  // frees the space at once
        io_failure("cannot write part " + std::to_string(number_), err);
      }
      off += size_t(w);
    }
    size_ += n;
  }

  Part commit() override;

 private:
  // Removes the temporary file, if any.
  void discard() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
    tmp_.clear();
  }
  // Makes the file durable and gives it its final name (still unrecorded).
  void place();
  // Records the placed file as the part; returns the file it replaced ("" when none).
  std::string record(const Part& part);

  Multipart& m_;
  const std::string upload_id_;
  const int number_;
  const std::string expect_md5_;
  std::string name_, tmp_;
  int fd_ = -1;
  uint64_t size_ = 0;
  crypto::Md5 md5_;
};

Multipart::Part Multipart::FilePart::commit() {
  if (fd_ < 0) throw std::logic_error("part writer used after commit or failure");
  Part part{number_, size_, crypto::hex(md5_.raw()), 0};
  if (!expect_md5_.empty() && expect_md5_ != part.etag) {
    discard();
    throw ApiError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
  }
  place();
  std::string replaced;
  try {
    sync_dir(m_.dir_);  // the row written next must never name a file a crash could lose
    part.mtime_ms = clock::now_ms();
    replaced = record(part);
  } catch (...) {
    ::unlink((m_.dir_ + "/" + name_).c_str());
    throw;
  }
  if (!replaced.empty()) remove_files(m_.dir_, {replaced});
  return part;
}

void Multipart::FilePart::place() {
  if (::fsync(fd_) != 0) {
    int err = errno;
    discard();
    io_failure("cannot sync part " + std::to_string(number_), err);
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_.c_str(), (m_.dir_ + "/" + name_).c_str()) != 0) {
    int err = errno;
    discard();
    io_failure("cannot place part " + std::to_string(number_), err);
  }
  tmp_.clear();
}

std::string Multipart::FilePart::record(const Part& part) {
  std::string replaced;
  m_.db_.transaction([&] {
    replaced.clear();
    auto up = m_.db_.query_one("SELECT claimed FROM multipart_uploads WHERE id = ?", {upload_id_});
    // A claimed upload is being completed: its parts are already chosen.
    if (!up || up->i64("claimed") != 0) throw no_such_upload();
    auto old = m_.db_.query_one("SELECT file FROM multipart_parts WHERE upload_id = ? AND number = ?", {upload_id_, number_});
    if (old) replaced = old->str("file");
    m_.db_.exec("INSERT INTO multipart_parts (upload_id, number, size, etag, mtime, file) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (upload_id, number) DO UPDATE SET size = excluded.size, etag = excluded.etag, "
                "mtime = excluded.mtime, file = excluded.file",
                {upload_id_, number_, int64_t(part.size), part.etag, part.mtime_ms, name_});
  });
  return replaced;
}

std::unique_ptr<Multipart::PartWriter> Multipart::part_writer(const Upload& u, int number, const std::string& expect_md5) {
  if (number < 1 || number > kMaxPartNumber)
    throw ApiError(400, "InvalidArgument",
                   "partNumber: Part number must be an integer between 1 and " + std::to_string(kMaxPartNumber) +
                       ", inclusive.");
  return std::make_unique<FilePart>(*this, u.id, number, expect_md5);
}

std::vector<Multipart::Part> Multipart::parts(const Upload& u, int after, size_t max, bool& truncated) {
  auto rows = db_.query("SELECT number, size, etag, mtime FROM multipart_parts WHERE upload_id = ? AND number > ? "
                        "ORDER BY number LIMIT ?",
                        {u.id, after, int64_t(std::min<size_t>(max, kMaxPartNumber)) + 1});
  truncated = rows.size() > max;
  std::vector<Part> out;
  for (size_t i = 0; i < rows.size() && i < max; ++i)
    out.push_back({int(rows[i].i64("number")), uint64_t(rows[i].i64("size")), rows[i].str("etag"), rows[i].i64("mtime")});
  return out;
}

std::vector<Multipart::Upload> Multipart::uploads(const std::string& bucket, const std::string& prefix,
                                                  const std::string& key_marker, const std::string& id_marker,
                                                  size_t max, bool& truncated) {
  // Keys with the prefix are the run of keys from the prefix on (byte
  // order) up to the first one without it.
  max = std::min(max, kMaxListed);
  std::string sql = "SELECT * FROM multipart_uploads WHERE bucket = ? AND object_key >= ?";
  int64_t limit = int64_t(max) + 1;
  store::Params ps;
  if (key_marker.empty()) {
    ps = {bucket, prefix, limit};
  } else if (id_marker.empty()) {
    sql += " AND object_key > ?";
    ps = {bucket, prefix, key_marker, limit};
  } else {
    sql += " AND (object_key > ? OR (object_key = ? AND id > ?))";
    ps = {bucket, prefix, key_marker, key_marker, id_marker, limit};
  }
  sql += " ORDER BY object_key, initiated, id LIMIT ?";
  truncated = false;
  std::vector<Upload> out;
  for (auto& r : db_.query(sql, ps)) {
    if (!r.str("object_key").starts_with(prefix)) break;
    if (out.size() == max) {
      truncated = true;
      break;
    }
    out.push_back(upload_of(r));
  }
  return out;
}

// ------------------------------------------------------------ completion

int64_t Multipart::claim(const std::string& id) {
  int64_t now = clock::now_ms();
  if (db_.exec("UPDATE multipart_uploads SET claimed = ? WHERE id = ? AND (claimed = 0 OR claimed < ?)",
               {now, id, now - kClaimLeaseMs}) != 1)
    throw no_such_upload();
  return now;
}

void Multipart::renew(const std::string& id, int64_t& claimed) {
  int64_t now = std::max(clock::now_ms(), claimed);
  // Lost to a takeover (this completion stalled past the lease) or an abort.
  if (db_.exec("UPDATE multipart_uploads SET claimed = ? WHERE id = ? AND claimed = ?", {now, id, claimed}) != 1)
    throw no_such_upload();
  claimed = now;
}

void Multipart::release(const std::string& id, int64_t claimed) {
  db_.exec("UPDATE multipart_uploads SET claimed = 0 WHERE id = ? AND claimed = ?", {id, claimed});
}

std::vector<Multipart::Stored> Multipart::stored_parts(const std::string& id) {
  std::vector<Stored> out;
  for (auto& r : db_.query("SELECT number, size, etag, mtime, file FROM multipart_parts WHERE upload_id = ? ORDER BY number", {id}))
    out.push_back({{int(r.i64("number")), uint64_t(r.i64("size")), r.str("etag"), r.i64("mtime")}, r.str("file")});
  return out;
}

// The stored parts the client's list names, in its order; throws the S3
// error of the first rule the list breaks.
std::vector<Multipart::Stored> Multipart::chosen(const std::vector<std::pair<int, std::string>>& list,
                                                 const std::vector<Stored>& stored) {
  if (list.empty()) throw ApiError(400, "MalformedXML", "You must specify at least one part.");
  for (size_t i = 1; i < list.size(); ++i)
    if (list[i].first <= list[i - 1].first)
      throw ApiError(400, "InvalidPartOrder",
                     "The list of parts was not in ascending order. The parts list must be specified in order by part number.");
  std::map<int, const Stored*> by_number;
  for (auto& s : stored) by_number[s.part.number] = &s;
  std::vector<Stored> out;
  for (auto& [number, etag] : list) {
    auto it = by_number.find(number);
    if (it == by_number.end()) throw invalid_part("part " + std::to_string(number) + " was not uploaded");
    if (bare_etag(etag) != it->second->part.etag) throw invalid_part("part " + std::to_string(number) + " has another etag");
    out.push_back(*it->second);
  }
  for (size_t i = 0; i + 1 < out.size(); ++i)
    if (out[i].part.size < kMinPartSize)
      throw ApiError(400, "EntityTooSmall",
                     "Your proposed upload is smaller than the minimum allowed size: part " +
                         std::to_string(out[i].part.number) + " holds " + std::to_string(out[i].part.size) +
                         " bytes, every part but the last must hold at least " + std::to_string(kMinPartSize >> 20) +
                         " MiB.");
  return out;
}

ObjectInfo Multipart::complete(const Upload& u, const std::vector<std::pair<int, std::string>>& list) {
  int64_t claimed = claim(u.id);
  std::vector<Stored> stored;
  ObjectInfo info;
  try {
    stored = stored_parts(u.id);  // read under the claim: no part changes any more
    info = assemble(u, chosen(list, stored), claimed);
  } catch (...) {
    try {
      release(u.id, claimed);  // the client may correct its list and complete again
    } catch (const std::exception&) {
      // The claim then lapses after kClaimLeaseMs.
    }
    throw;
  }
  // The object is in place: the upload is done, whatever happens to its
  // rows (a failure here leaves an upload to abort, its object made).
  std::vector<std::string> files;
  for (auto& s : stored) files.push_back(s.file);
  db_.transaction([&] {
    db_.exec("DELETE FROM multipart_parts WHERE upload_id = ?", {u.id});
    db_.exec("DELETE FROM multipart_uploads WHERE id = ?", {u.id});
  });
  remove_files(dir_, files);
  return info;
}

// Streams the parts' files into the object, in order, and commits it.
ObjectInfo Multipart::assemble(const Upload& u, const std::vector<Stored>& parts, int64_t& claimed) {
  crypto::Md5 of_parts;
  for (auto& s : parts) of_parts.update(unhex(s.part.etag));
  PutOptions o = u.options;
  o.expect_md5.clear();
  o.etag = crypto::hex(of_parts.raw()) + "-" + std::to_string(parts.size());
  auto w = objects_.writer(u.path, o);
  std::unique_ptr<char[]> buf(new char[kCopyBuffer]);
  auto renewed = std::chrono::steady_clock::now();
  for (auto& s : parts) {
    std::string file = dir_ + "/" + s.file;
    Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (in.fd < 0 || ::fstat(in.fd, &st) != 0 || uint64_t(st.st_size) != s.part.size)
      throw std::runtime_error("the file of part " + std::to_string(s.part.number) + " is missing or damaged: " + file);
    for (uint64_t left = s.part.size; left > 0;) {
      ssize_t n = ::read(in.fd, buf.get(), std::min<uint64_t>(kCopyBuffer, left));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("cannot read the file of part " + std::to_string(s.part.number));
      w->write(buf.get(), size_t(n));
      left -= uint64_t(n);
      if (std::chrono::steady_clock::now() - renewed > std::chrono::milliseconds(kClaimRenewMs)) {
        renew(u.id, claimed);
        renewed = std::chrono::steady_clock::now();
      }
    }
  }
  renew(u.id, claimed);  // still ours: nobody took over or aborted meanwhile
  ObjectInfo info = w->commit();
  info.etag = o.etag;
  return info;
}

// ------------------------------------------------------------ forgetting

bool Multipart::abort(const std::string& id) {
  std::vector<std::string> files;
  bool found = false;
  db_.transaction([&] {
    files.clear();
    found = db_.exec("DELETE FROM multipart_uploads WHERE id = ? AND (claimed = 0 OR claimed < ?)",
                     {id, clock::now_ms() - kClaimLeaseMs}) == 1;
    if (!found) return;
    for (auto& r : db_.query("SELECT file FROM multipart_parts WHERE upload_id = ?", {id})) files.push_back(r.str("file"));
    db_.exec("DELETE FROM multipart_parts WHERE upload_id = ?", {id});
  });
  remove_files(dir_, files);  // after the commit: a rollback would leave rows naming removed files
  return found;
}

size_t Multipart::clean(int64_t before_ms) {
  size_t n = 0;
  for (auto& r : db_.query("SELECT id FROM multipart_uploads WHERE initiated < ?", {before_ms}))
    if (abort(r.str("id"))) ++n;
  return n;
}

}  // namespace atelier::obs
