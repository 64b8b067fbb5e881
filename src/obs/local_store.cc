#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <unordered_map>

#include "common/crypto.h"
#include "common/error.h"
#include "obs/object_store.h"

namespace fs = std::filesystem;

namespace atelier::obs {

namespace {

// What a put records beside the content, as extended attributes of the
// object's file. They are set before the file gets its name, so they appear
// with the content, atomically, and go with it. A file placed in a bucket by
// hand has none (its ETag is then unknown).
constexpr const char* kEtagAttr = "user.atelier.etag";  // hex MD5, every put
constexpr const char* kTypeAttr = "user.atelier.type";  // the content type, when given
constexpr const char* kMetaAttr = "user.atelier.meta";  // user metadata (encode_metadata), when any
constexpr const char* kEmptyMd5 = "d41d8cd98f00b204e9800998ecf8427e";
// User metadata at most, names and values counted as S3 counts them.
constexpr size_t kMaxMetadata = 2048;

// User metadata as one attribute value: name NUL value NUL, pair after
// pair. Exact for any bytes but NUL (which no HTTP header holds), and
// compact: ext4 keeps all of a file's attributes in one 4 KiB block.
std::string encode_metadata(const std::map<std::string, std::string>& m) {
  std::string out;
  for (auto& [name, value] : m) {
    out += name;
    out += '\0';
    out += value;
    out += '\0';
  }
  return out;
}

// encode_metadata undone; an incomplete last pair (a value edited by hand) is left out.
std::map<std::string, std::string> decode_metadata(std::string_view s) {
  std::map<std::string, std::string> out;
  for (;;) {
    size_t a = s.find('\0');
    size_t b = a == std::string_view::npos ? a : s.find('\0', a + 1);
    if (b == std::string_view::npos) return out;
    out.emplace(std::string(s.substr(0, a)), std::string(s.substr(a + 1, b - a - 1)));
    s.remove_prefix(b + 1);
  }
}

// The attribute `name` of the open file `fd` into `out`; false when the
// file has none (or its file system keeps none). An O_PATH descriptor has
// no attributes to read (EBADF): attributes are read through files opened
// for reading.
bool get_attr(int fd, const char* name, std::string& out) {
  char buf[4096];  // what ext4 can hold: one call
  ssize_t n = ::fgetxattr(fd, name, buf, sizeof buf);
  if (n >= 0) {
    out.assign(buf, size_t(n));
    return true;
  }
  for (int tries = 0; errno == ERANGE && tries < 3; ++tries) {  // larger: another file system's
    ssize_t want = ::fgetxattr(fd, name, nullptr, 0);
    if (want < 0) return false;
    out.resize(size_t(want));
    n = ::fgetxattr(fd, name, out.data(), out.size());
    if (n >= 0) {
      out.resize(size_t(n));
      return true;
    }
  }
  return false;
}

// Fills the ETag, content type and metadata a put recorded on the file.
void read_attrs(int fd, ObjectInfo& info) {
  if (!get_attr(fd, kEtagAttr, info.etag)) return;  // not written by the store: nothing else either
  get_attr(fd, kTypeAttr, info.content_type);
  if (std::string meta; get_attr(fd, kMetaAttr, meta)) info.metadata = decode_metadata(meta);
}

// Keys on disk. The local store keeps a key as a path of folders, one per
// '/'-separated segment, so a segment no file name can be is escaped: the
// empty segment, "." and "..", and a segment starting with the escape "~~"
// itself are stored as "~~" + segment. Every other segment is its own name
// (what people see in the data dir). A name of more than 255 bytes cannot
// be held: such a key is refused with KeyTooLongError.
constexpr std::string_view kEscape = "~~";

bool plain_segment(std::string_view seg) {
  return !seg.empty() && seg != "." && seg != ".." && !seg.starts_with(kEscape);
}

// Every segment of `body` is a name a file system can hold (255 bytes).
bool segments_fit(std::string_view body) {
  for (size_t pos = 0;;) {
    size_t slash = body.find('/', pos);
    if ((slash == std::string_view::npos ? body.size() : slash) - pos > 255) return false;
    if (slash == std::string_view::npos) return true;
    pos = slash + 1;
  }
}

// True when the key is its own path on disk: no segment escaped, none too long.
bool plain_key(std::string_view key) {
  std::string_view body = key;
  if (!body.empty() && body.back() == '/') body.remove_suffix(1);
  if (body.empty()) return key.empty();
  for (size_t pos = 0;;) {
    size_t slash = body.find('/', pos);
    if (!plain_segment(body.substr(pos, slash == std::string_view::npos ? body.npos : slash - pos))) return false;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return body.size() <= 255 || segments_fit(body);
}

// The key's path on disk (a trailing '/', a folder marker, kept).
std::string disk_key(const std::string& key) {
  if (plain_key(key)) return key;
  std::string_view body = key;
  bool folder = !body.empty() && body.back() == '/';
  if (folder) body.remove_suffix(1);
  std::string out;
  for (size_t pos = 0;;) {
    size_t slash = body.find('/', pos);
    std::string_view seg = body.substr(pos, slash == std::string_view::npos ? body.npos : slash - pos);
    bool escaped = !plain_segment(seg);
    if (seg.size() + (escaped ? kEscape.size() : 0) > 255)
      throw ApiError(400, "KeyTooLongError", "A key's segment (between '/') may be at most 253 bytes on this store.");
    if (escaped) out += kEscape;
    out += seg;
    if (slash == std::string_view::npos) break;
    out += '/';
    pos = slash + 1;
  }
  return folder ? out + "/" : out;
}

// A path on disk of a key (disk_key's output, or a ModelArts key): no NUL,
// no empty, "." or ".." segment, no leading '/'. Escaping may make it up to
// three times as long as the key.
bool valid_disk_key(std::string_view k) {
  if (k.size() > 3 * 1024 || k.find('\0') != std::string_view::npos) return false;
  std::string_view body = k;
  if (!body.empty() && body.back() == '/') body.remove_suffix(1);
  if (body.empty()) return k.empty();
  for (size_t pos = 0;;) {
    size_t slash = body.find('/', pos);
    std::string_view seg = body.substr(pos, slash == std::string_view::npos ? body.npos : slash - pos);
    if (seg.empty() || seg == "." || seg == "..") return false;
    if (slash == std::string_view::npos) return true;
    pos = slash + 1;
  }
}

// The name on disk of a key segment.
std::string name_of_segment(std::string_view seg) {
  return plain_segment(seg) ? std::string(seg) : std::string(kEscape) + std::string(seg);
}

// The key segment a name on disk stands for.
std::string_view key_of_name(std::string_view name) {
  return name.starts_with(kEscape) ? name.substr(kEscape.size()) : name;
}

// A client's path checked (bucket name, S3 key rules) and mapped to disk.
ObsPath on_disk(const ObsPath& p) {
  if (!valid_bucket(p.bucket) || !valid_object_key(p.key)) throw bad_request("Invalid OBS path " + p.str());
  return ObsPath{p.bucket, disk_key(p.key)};
}

int64_t mtime_ms(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000; }

ObjectInfo object_info(std::string key, uint64_t size, int64_t mtime_ms, std::string etag = "") {
  ObjectInfo info;
  info.key = std::move(key);
  info.size = size;
  info.mtime_ms = mtime_ms;
  info.etag = std::move(etag);
  return info;
}

ApiError metadata_too_large() {
  return ApiError(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.");
}

// Options the store can record: metadata within kMaxMetadata, no NUL
// anywhere (the encoding's separator; no header can hold one).
void check_options(const PutOptions& o) {
  size_t total = 0;
  bool nul = o.content_type.find('\0') != std::string::npos;
  for (auto& [name, value] : o.metadata) {
    total += name.size() + value.size();
    nul = nul || name.find('\0') != std::string::npos || value.find('\0') != std::string::npos;
  }
  if (total > kMaxMetadata) throw metadata_too_large();
  if (nul) throw bad_request("Object metadata and content type must not contain NUL characters.");
}

// Throws for a failed write of an object's file: no_space() when the disk or
// the quota is full, std::runtime_error naming `what` otherwise.
[[noreturn]] void write_failed(const ObsPath& p, const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) throw no_space("Cannot store " + p.str());
  throw std::runtime_error(what + ": " + std::strerror(err));
}

// Writes all of data[0, n) to fd; false with errno set on failure.
bool write_all(int fd, const char* data, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t w = ::write(fd, data + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    off += size_t(w);
  }
  return true;
}

class FileReader : public ObjectReader {
 public:
  // Owns `fd`, the regular file `st` describes.
  FileReader(int fd, std::string key, const struct stat& st)
      : fd_(fd), key_(std::move(key)), size_(uint64_t(st.st_size)), mtime_ms_(mtime_ms(st)) {}
  ~FileReader() override { ::close(fd_); }
  size_t read(char* buf, size_t cap) override {
    for (;;) {
      ssize_t n = ::read(fd_, buf, cap);
      if (n >= 0) return size_t(n);
      if (errno != EINTR) throw std::runtime_error("object read failed");
    }
  }
  uint64_t size() const override { return size_; }
  // Read from the open file when asked (most readers never ask): its
  // attributes belong to this very file, the version being read, even if
  // the object was replaced since.
  ObjectInfo info() const override {
    ObjectInfo info = object_info(key_, size_, mtime_ms_);
    read_attrs(fd_, info);
    return info;
  }
  void seek(uint64_t offset) override {
    if (offset > size_) throw std::out_of_range("seek past the end of object " + key_);
    if (::lseek(fd_, off_t(offset), SEEK_SET) < 0) throw std::runtime_error("object seek failed");
  }

 private:
  int fd_;
  std::string key_;
  uint64_t size_;
  int64_t mtime_ms_;
};

class LocalWriter;
class LocalScanner;

class LocalStore : public ObjectStore {
  friend class LocalScanner;
  friend class LocalWriter;

 public:
  explicit LocalStore(const std::string& root) {
    fs::create_directories(root);
    root_ = fs::canonical(root);
    tmp_ = root_ / ".tmp";
    fs::create_directories(tmp_);
    // Uploads cut off by a crash leave their temporary files behind. Another
    // process (`atelier admin`) may open the store while a server writes, so
    // only files untouched for an hour are taken for abandoned.
    std::error_code ec;
    auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(1);
    for (auto& e : fs::directory_iterator(tmp_, ec))
      if (e.is_regular_file(ec) && e.last_write_time(ec) < cutoff) fs::remove(e.path(), ec);
  }

  ~LocalStore() override {
    if (root_fd_ >= 0) ::close(root_fd_);
  }

  void create_bucket(const std::string& bucket) override {
    if (!valid_bucket(bucket)) throw bad_request("Invalid bucket name: " + bucket);
    fs::create_directories(root_ / bucket);
  }

  bool bucket_exists(const std::string& bucket) override {
    return valid_bucket(bucket) && fs::is_directory(root_ / bucket);
  }

  // rmdir removes only an empty folder: a bucket holding any object or
  // folder marker stays.
  bool remove_bucket(const std::string& bucket) override {
    if (!valid_bucket(bucket)) return false;
    struct stat st {};
    fs::path dir = root_ / bucket;
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    return ::rmdir(dir.c_str()) == 0;
  }

  std::vector<std::string> buckets() override {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(root_))
      if (e.is_directory() && valid_bucket(e.path().filename().string())) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  ObjectInfo put(const ObsPath& p, const Source& src, Durability durability) override;
  std::unique_ptr<ObjectWriter> writer(const ObsPath& p, const PutOptions& o, Durability durability) override;
  std::optional<ObjectInfo> copy(const ObsPath& from, const ObsPath& to,
                                 const std::optional<PutOptions>& replace) override;

  // One syncfs() covers every deferred write: the store is one file system.
  void sync() override {
    int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open the object store root");
    int rc = ::syncfs(fd);
    ::close(fd);
    if (rc != 0) throw std::runtime_error("object store sync failed");
  }

  std::unique_ptr<ObjectReader> get(const ObsPath& p) override {
    if (p.key.empty() || p.key.back() == '/') return nullptr;  // folders have no content
    ObsPath d = on_disk(p);
    struct stat st;
    int fd = open_object(d, O_RDONLY, st);
    if (fd == kNoOpenat2) fd = open_resolved(d, st);
    if (fd < 0) return nullptr;
    return std::make_unique<FileReader>(fd, p.key, st);
  }

  std::unique_ptr<Scanner> scanner() override;

  // Size and time from the file, ETag, content type and metadata from its
  // attributes (read through a descriptor open for reading: see get_attr).
  std::optional<ObjectInfo> head(const ObsPath& client) override {
    ObsPath p = on_disk(client);
    struct stat st;
    bool folder_key = !p.key.empty() && p.key.back() == '/';
    if (!p.key.empty() && !folder_key) {
      int fd = open_object(p, O_RDONLY, st);
      if (fd == -1 && errno == EACCES) fd = open_object(p, O_PATH, st);  // not ours to read: no attributes
      if (fd >= 0) return info_of(client.key, fd, st);
      if (fd != kNoOpenat2) return std::nullopt;
    }
    // Nothing there, nothing to escape to: answer with one system call.
    std::string quick = (root_ / p.bucket).string() + "/" + p.key;
    if (!quick.empty() && quick.back() == '/') quick.pop_back();
    if (lstat(quick.c_str(), &st) != 0) return std::nullopt;
    if (!folder_key) {
      int fd = open_resolved(p, st);
      if (fd < 0) return std::nullopt;
      return info_of(client.key, fd, st);
    }
    fs::path f = resolve(p, false);
    if (lstat(f.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    return object_info(client.key, 0, int64_t(st.st_mtime) * 1000, kEmptyMd5);
  }

  // One openat2 (O_PATH) and fstat: no attribute read.
  bool exists(const ObsPath& client) override {
    if (client.key.empty() || client.key.back() == '/') return head(client).has_value();
    ObsPath p = on_disk(client);
    struct stat st;
    int fd = open_object(p, O_PATH, st);
    if (fd == kNoOpenat2) return head(client).has_value();
    if (fd < 0) return false;
    ::close(fd);
    return true;
  }

  bool remove(const ObsPath& client) override {
    if (client.key.empty()) return false;
    ObsPath p = on_disk(client);
    fs::path f = resolve(p, false);
    std::error_code ec;
    if (p.key.back() == '/') {
      // A folder marker goes only when nothing is left under it.
      return fs::is_directory(f) && fs::is_empty(f) && fs::remove(f, ec);
    }
    struct stat st;
    if (lstat(f.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    bool ok = fs::remove(f, ec);
    // Drop folders the removal emptied, like S3 where folders are only prefixes.
    for (fs::path d = f.parent_path(); ok && d != root_ / p.bucket && d.has_parent_path(); d = d.parent_path())
      if (!fs::remove(d, ec)) break;
    return ok;
  }

  ListResult list(const std::string& bucket, const std::string& prefix, const std::string& delimiter,
                  const std::string& marker, size_t max_keys) override {
    if (!valid_bucket(bucket)) throw bad_request("Invalid bucket name: " + bucket);
    // Walk only the folder the prefix points into; its complete segments must
    // form a valid key (the last, partial segment only filters names).
    std::string dir_part = prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
    if (!valid_object_key(prefix)) throw bad_request("Invalid parameter prefix");
    ListResult out;
    fs::path broot = root_ / bucket;
    if (!fs::is_directory(broot)) return out;
    max_keys = std::clamp<size_t>(max_keys, 1, 1000);
    std::string dir_on_disk;
    try {
      dir_on_disk = disk_key(dir_part);
    } catch (const ApiError&) {
      return out;  // a folder no key can be in
    }
    fs::path start = broot / dir_on_disk;
    // Never start from a folder reached through a symlink.
    fs::path probe = broot;
    for (auto& seg : fs::path(dir_on_disk)) {
      if (seg.empty()) continue;
      probe /= seg;
      struct stat st;
      if (lstat(probe.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return out;
    }
    std::string last_prefix;
    auto visit = [&](const std::string& key, bool is_dir, const fs::path& path, int dfd, const char* leaf) -> bool {
      // Returns false to stop the walk.
      if (key.compare(0, prefix.size(), prefix) != 0) return key < prefix;  // continue until past prefix range
      if (!delimiter.empty()) {
        size_t d = key.find(delimiter, prefix.size());
        if (d != std::string::npos) {
          std::string cp = key.substr(0, d + delimiter.size());
          if (cp == last_prefix || cp <= marker) return true;
          if (out.objects.size() + out.common_prefixes.size() >= max_keys) {
            out.truncated = true;
            return false;
          }
          last_prefix = cp;
          out.common_prefixes.push_back(cp);
          out.next_marker = cp;
          return true;
        }
      }
      if (key <= marker) return true;
      if (is_dir && !fs::is_empty(path)) return true;  // only empty folders list as markers
      if (out.objects.size() + out.common_prefixes.size() >= max_keys) {
        out.truncated = true;
        return false;
      }
      ObjectInfo o = object_info(key, 0, 0);
      if (!listed(is_dir, path, dfd, leaf, o)) return true;  // gone meanwhile
      out.objects.push_back(std::move(o));
      out.next_marker = key;
      return true;
    };
    // The folder the prefix names is itself a key ("models/") before its contents.
    if (dir_part.empty() || visit(dir_part, true, start, -1, nullptr)) walk(start, dir_part, marker, visit);
    if (!out.truncated) out.next_marker.clear();
    return out;
  }

 private:
  // Visits keys under `dir` in byte order of the full key. Folders are visited
  // as "name/" (their marker) and then descended into.
  // Visits keys under `dir` in byte order of the full key, skipping what
  // sorts before `after`.
  bool walk(const fs::path& dir, const std::string& key_prefix, const std::string& after,
            const std::function<bool(const std::string&, bool, const fs::path&, int, const char*)>& visit) {
    auto listing = entries_of(dir);
    struct Folder {
      int fd;
      ~Folder() {
        if (fd >= 0) ::close(fd);
      }
    } folder{::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)};
    const auto& entries = listing->entries;
    auto it = entries.begin();
    // Every key of this folder and below starts with key_prefix; when the
    // marker does too, start at the first entry that can sort after it.
    if (after.size() > key_prefix.size() && after.compare(0, key_prefix.size(), key_prefix) == 0) {
      std::string rest = after.substr(key_prefix.size(), after.find('/', key_prefix.size()) - key_prefix.size());
      it = std::lower_bound(entries.begin(), entries.end(), rest,
                            [](const std::pair<std::string, bool>& e, const std::string& r) { return e.first < r; });
    }
    for (; it != entries.end(); ++it) {
      const auto& [name, d] = *it;
      std::string key = key_prefix + name;
      // A folder sorting before the marker, the marker not inside it: all of it comes before.
      if (d && key < after && after.compare(0, key.size(), key) != 0) continue;
      std::string leaf = name_of_segment(d ? std::string_view(name).substr(0, name.size() - 1) : std::string_view(name));
      fs::path p = dir / leaf;
      if (!visit(key, d, p, folder.fd, leaf.c_str())) return false;
      if (d && !walk(p, key, after, visit)) return false;
    }
    return true;
  }

  // A folder's entries by the key segments they stand for (key_of_name),
  // sorted, with "/" after folder names; symlinks and
  // special files left out. Listing a folder again and again (a task paging
  // through 100,000 files) reuses the sorted entries while the folder's
  // modification time says nothing changed. Entries read within a second of
  // the folder's last change are not kept: a change in the same clock tick
  // would not move the time.
  struct Listing {
    dev_t dev = 0;
    ino_t ino = 0;
    struct timespec mtime {}, ctime {};
    std::vector<std::pair<std::string, bool>> entries;
  };
  std::shared_ptr<const Listing> entries_of(const fs::path& dir) {
    struct stat st {};
    bool stated = ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    if (stated) {
      std::lock_guard<std::mutex> l(listings_mu_);
      auto it = listings_.find(dir.string());
      if (it != listings_.end() && it->second->dev == st.st_dev && it->second->ino == st.st_ino &&
          it->second->mtime.tv_sec == st.st_mtim.tv_sec && it->second->mtime.tv_nsec == st.st_mtim.tv_nsec &&
          it->second->ctime.tv_sec == st.st_ctim.tv_sec && it->second->ctime.tv_nsec == st.st_ctim.tv_nsec)
        return it->second;
    }
    auto out = std::make_shared<Listing>();
    std::error_code ec;
    for (auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_symlink()) continue;  // never followed, never listed
      bool d = e.is_directory();
      if (!d && !e.is_regular_file()) continue;
      std::string name = e.path().filename().string();
      if (dir == root_ && name == ".tmp") continue;
      std::string label(key_of_name(name));
      out->entries.emplace_back(d ? label + "/" : label, d);
    }
    std::sort(out->entries.begin(), out->entries.end());
    struct timespec now {};
    clock_gettime(CLOCK_REALTIME, &now);
    // Kept: folders of 1,000 to 2,000,000 entries, at most 2,000,000 entries
    // in all (about 100 MB).
    constexpr size_t kMaxKept = 2000000;
    size_t n = out->entries.size();
    if (stated && n >= 1000 && n <= kMaxKept && now.tv_sec > std::max(st.st_mtim.tv_sec, st.st_ctim.tv_sec) + 1) {
      out->dev = st.st_dev;
      out->ino = st.st_ino;
      out->mtime = st.st_mtim;
      out->ctime = st.st_ctim;  // a tool can set the mtime back (touch -r, rsync -t), not the ctime
      std::lock_guard<std::mutex> l(listings_mu_);
      auto& slot = listings_[dir.string()];
      if (slot) kept_entries_ -= slot->entries.size();
      slot.reset();
      if (kept_entries_ + n > kMaxKept || listings_.size() > 16) {
        listings_.clear();
        kept_entries_ = 0;
      }
      listings_[dir.string()] = out;
      kept_entries_ += n;
    }
    return out;
  }

  // Size, time and ETag of a key list() found, `leaf` in the open folder
  // `dfd` (by name there: no walk of the whole path for each file), or at
  // `path` when no folder is open; false when it is gone. Content type and
  // metadata are left out: list does not report them.
  bool listed(bool is_dir, const fs::path& path, int dfd, const char* leaf, ObjectInfo& o) {
    struct stat st;
    if (is_dir || dfd < 0 || !have_xattr_) {
      if ((dfd >= 0 ? fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) : lstat(path.c_str(), &st)) != 0) return false;
      o.size = is_dir ? 0 : uint64_t(st.st_size);
      o.mtime_ms = int64_t(st.st_mtime) * 1000;
      if (is_dir) o.etag = kEmptyMd5;  // a folder marker, as head() says
      return true;
    }
    // The ETag is an attribute, read through the file opened for reading
    // (O_NONBLOCK: a FIFO swapped in meanwhile must not hang the listing).
    int fd = ::openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      if (errno != EACCES || fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
    } else {
      bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
      if (ok) get_attr(fd, kEtagAttr, o.etag);
      ::close(fd);
      if (!ok) return false;
    }
    o.size = uint64_t(st.st_size);
    o.mtime_ms = int64_t(st.st_mtime) * 1000;
    return true;
  }

  // The object `p` opened with `flags` beneath the root, `st` filled; -1 (errno
  // set) when there is no such regular file, kNoOpenat2 on kernels without
  // openat2. O_NONBLOCK: a FIFO placed in the store must not hang the caller.
  int open_object(const ObsPath& p, int flags, struct stat& st) {
    int fd = open_beneath(p, flags & O_PATH ? flags : flags | O_NONBLOCK);  // openat2 allows O_PATH nothing more
    if (fd < 0) return fd;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      errno = ENOENT;
      return -1;
    }
    return fd;
  }

  // open_object for kernels without openat2, the path checked by hand.
  int open_resolved(const ObsPath& p, struct stat& st) {
    fs::path f = resolve(p, false);
    int fd = ::open(f.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // What head() says of the open object file `fd` (closed here).
  ObjectInfo info_of(const std::string& key, int fd, const struct stat& st) {
    ObjectInfo info = object_info(key, uint64_t(st.st_size), mtime_ms(st));
    if (have_xattr_) read_attrs(fd, info);
    ::close(fd);
    return info;
  }

  static const EVP_MD* md5_algorithm() {
    static EVP_MD* md = EVP_MD_fetch(nullptr, "MD5", nullptr);  // looked up once
    return md;
  }

  static ObsPath parent_of(const ObsPath& p) {
    size_t slash = p.key.rfind('/');
    return ObsPath{p.bucket, slash == std::string::npos ? "" : p.key.substr(0, slash + 1)};
  }

  // The folder an object goes into, opened beneath the root with no symlink
  // on the way (openat2) and created when missing; kNoOpenat2 when the
  // kernel cannot do that. A parent that is an object is a 409, a missing
  // bucket a 404. `created`, when given, is set to the topmost folder this
  // call had to create (left alone when none was missing).
  int open_parent(const ObsPath& p, fs::path* created = nullptr) {
    ObsPath parent = parent_of(p);
    int dfd = open_beneath(parent, O_PATH | O_DIRECTORY);
    if (dfd == kNoOpenat2) return dfd;
    if (dfd < 0 && errno == ENOENT) {
      fs::path dir = resolve(parent, /*for_write=*/true);  // 404 when the bucket is missing
      if (created) *created = first_missing(parent);
      std::error_code ec;
      fs::create_directories(dir, ec);
      dfd = open_beneath(parent, O_PATH | O_DIRECTORY);
    }
    if (dfd < 0) throw ApiError(409, "ModelArts.0101", "Cannot create " + p.str() + ": a parent is an object");
    return dfd;
  }

  // The first folder of `dir` (a folder key) that does not exist.
  fs::path first_missing(const ObsPath& dir) {
    fs::path probe = root_ / dir.bucket;
    for (auto& seg : fs::path(dir.key)) {
      if (seg.empty()) continue;
      probe /= seg;
      struct stat st;
      if (lstat(probe.c_str(), &st) != 0) return probe;
    }
    return {};
  }

  // Removes the folders open_parent created for `p`, from the object's up to
  // `created`, as long as they are empty: an upload given up leaves no
  // folder behind (an empty folder would list as a folder marker).
  void remove_created(const ObsPath& p, const fs::path& created) {
    fs::path d = (root_ / p.bucket / parent_of(p).key).parent_path();
    while (d.native().size() >= created.native().size() && ::rmdir(d.c_str()) == 0 && d != created)
      d = d.parent_path();
  }

  static std::string base_name(const ObsPath& p) {
    size_t slash = p.key.rfind('/');
    return slash == std::string::npos ? p.key : p.key.substr(slash + 1);
  }

  // Whether the folder `dfd` was removed since it was opened (a removal
  // that emptied it, an upload given up that had created it).
  static bool folder_removed(int dfd) {
    struct stat st;
    return fstat(dfd, &st) == 0 && st.st_nlink == 0;
  }

  // Gives the finished file `fd` (unnamed, or the temporary file `tmp`) the
  // object's name in the folder `dfd`, replacing an object there. A symlink
  // someone placed there is never replaced or written through (400); a
  // folder of that name is a 409. False when the folder `dfd` was removed
  // meanwhile: the caller opens it anew and tries again.
  bool link_into(const ObsPath& p, int dfd, int fd, fs::path& tmp) {
    std::string base = base_name(p);
    if (tmp.empty()) {
      char proc[64];
      std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
      // A new name: linkat never replaces anything, a symlink included.
      if (::linkat(AT_FDCWD, proc, dfd, base.c_str(), AT_SYMLINK_FOLLOW) == 0) return true;
      int err = errno;
      if (err == ENOENT && folder_removed(dfd)) return false;
      if (err == ENOSPC || err == EDQUOT) write_failed(p, "object link failed", err);
      if (err == EEXIST) refuse_symlink(p, dfd, base);
      // Replacing: a name in .tmp first, then one rename over the old object.
      fs::path named = tmp_ / crypto::random_hex(12);
      if (err != EEXIST || ::linkat(AT_FDCWD, proc, AT_FDCWD, named.c_str(), AT_SYMLINK_FOLLOW) != 0) {
        if (err == EEXIST && (errno == ENOSPC || errno == EDQUOT)) write_failed(p, "object link failed", errno);
        // Linking an unnamed file is refused here (no /proc, a sandbox):
        // copy it to a named temporary file, and use those from now on.
        have_tmpfile_ = false;
        copy_to(p, fd, named);
      }
      tmp = named;
    } else {
      refuse_symlink(p, dfd, base);
    }
    if (::renameat(AT_FDCWD, tmp.c_str(), dfd, base.c_str()) != 0) {
      int err = errno;
      if (err == EISDIR || err == ENOTEMPTY || err == EEXIST)
        throw ApiError(409, "ModelArts.0101", "Cannot overwrite folder " + p.str());
      if (err == ENOENT && folder_removed(dfd)) return false;
      write_failed(p, "object rename failed", err);
    }
    tmp.clear();  // renamed: nothing to clean up
    return true;
  }

  // Copies the content of `fd` (from its start) and the attributes a put
  // records into a new file `to`, for the object `p`.
  void copy_to(const ObsPath& p, int fd, const fs::path& to) {
    int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) write_failed(p, "cannot create temporary object file", errno);
    auto fail = [&](const char* what) {
      int err = errno;
      ::close(out);
      ::unlink(to.c_str());
      write_failed(p, what, err);
    };
    std::unique_ptr<char[]> buf(new char[1 << 16]);
    for (off_t at = 0;;) {
      ssize_t n = ::pread(fd, buf.get(), 1 << 16, at);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) break;
      if (n < 0 || !write_all(out, buf.get(), size_t(n))) fail("object copy failed");
      at += n;
    }
    for (const char* name : {kEtagAttr, kTypeAttr, kMetaAttr})
      if (std::string v; get_attr(fd, name, v) && ::fsetxattr(out, name, v.data(), v.size(), 0) != 0)
        fail("cannot record the object's metadata");
    if (::fsync(out) != 0) fail("object fsync failed");  // a rare path: durable whatever the put asked for
    ::close(out);
  }

  static void refuse_symlink(const ObsPath& p, int dfd, const std::string& base) {
    struct stat target;
    if (fstatat(dfd, base.c_str(), &target, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(target.st_mode))
      throw bad_request("OBS path " + p.str() + " leads outside its bucket");
  }

  // Renames the finished temporary file to the object's name on kernels
  // without openat2, checking the path by hand.
  void place(const ObsPath& p, fs::path& tmp) {
    fs::path dest = resolve(p, /*for_write=*/true);
    std::error_code ec;
    fs::create_directories(dest.parent_path(), ec);
    if (ec || !fs::is_directory(dest.parent_path()))
      throw ApiError(409, "ModelArts.0101", "Cannot create " + p.str() + ": a parent is an object");
    if (fs::is_directory(dest)) throw ApiError(409, "ModelArts.0101", "Cannot overwrite folder " + p.str());
    fs::rename(tmp, dest);
    tmp.clear();
  }

  static constexpr int kNoOpenat2 = -2;

  // Opens bucket/key below the store's root in one system call, the kernel
  // refusing any symlink or `..` on the way (openat2 RESOLVE_BENEATH |
  // RESOLVE_NO_SYMLINKS): the escape check and the open are one step, so no
  // path can be swapped in between. -1 when there is nothing to open;
  // kNoOpenat2 on kernels without openat2 (then resolve() checks by hand).
  int open_beneath(const ObsPath& p, int flags) {
    if (!valid_bucket(p.bucket) || !valid_disk_key(p.key)) throw bad_request("Invalid OBS path " + p.str());
    if (!have_openat2_) return kNoOpenat2;
    if (root_fd_ < 0) {
      std::lock_guard<std::mutex> l(root_mu_);
      if (root_fd_ < 0) root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root_fd_ < 0) return kNoOpenat2;
    }
    std::string rel = p.bucket + "/" + p.key;
    if (rel.back() == '/') rel.pop_back();
    struct open_how how {};
    how.flags = uint64_t(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd = int(::syscall(SYS_openat2, root_fd_.load(), rel.c_str(), &how, sizeof how));
    if (fd >= 0) return fd;
    if (errno == ENOSYS) {
      have_openat2_ = false;
      return kNoOpenat2;
    }
    if (errno == ELOOP || errno == EXDEV) throw bad_request("OBS path " + p.str() + " leads outside its bucket");
    return -1;
  }

  // Maps a validated path to the file system and proves the result stays
  // inside the bucket even when a component on disk is a symlink.
  fs::path resolve(const ObsPath& p, bool for_write) {
    if (!valid_bucket(p.bucket) || !valid_disk_key(p.key)) throw bad_request("Invalid OBS path " + p.str());
    fs::path broot = root_ / p.bucket;
    if (!fs::is_directory(broot)) {
      if (!for_write) return broot / "\x01missing";
      throw ApiError(404, "ModelArts.0015", "Bucket " + p.bucket + " does not exist");
    }
    std::string key = p.key;
    if (!key.empty() && key.back() == '/') key.pop_back();
    fs::path full = broot / key;
    // Every existing ancestor must be a real directory inside the bucket.
    fs::path probe = broot;
    fs::path rel = fs::path(key);
    for (auto it = rel.begin(); it != rel.end(); ++it) {
      probe /= *it;
      struct stat st;
      if (lstat(probe.c_str(), &st) != 0) break;
      if (S_ISLNK(st.st_mode)) throw bad_request("OBS path " + p.str() + " leads outside its bucket");
    }
    return full;
  }

  std::mutex listings_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Listing>> listings_;  // large folders only
  size_t kept_entries_ = 0;                                                    // in listings_
  std::atomic<int> root_fd_{-1};  // O_PATH handle of root_, for openat2
  std::mutex root_mu_;
  std::atomic<bool> have_openat2_{true};
  // O_TMPFILE files are linked through /proc/self/fd (linkat with
  // AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
  std::atomic<bool> have_tmpfile_{::access("/proc/self/fd", F_OK) == 0};
  // False once the file system refused an extended attribute (ENOTSUP):
  // objects are then stored without ETag, content type or metadata.
  std::atomic<bool> have_xattr_{true};

  fs::path root_, tmp_;
};

// An upload to the local store. The content goes to an unnamed file in the
// object's folder (O_TMPFILE) that commit() links under the object's name:
// readers never see half an object, a crash leaves nothing behind, and the
// file system places the new file beside its folder. Without O_TMPFILE (or
// openat2), a named temporary file in .tmp is renamed into place instead.
class LocalWriter : public ObjectWriter {
 public:
  // Throws what open_parent throws (404, 409), no_space() when not even an
  // empty file fits.
  // `p` is the object's path on disk (on_disk), `key` the client's key.
  LocalWriter(LocalStore& store, const ObsPath& p, std::string key, const PutOptions& o, ObjectStore::Durability d);
  ~LocalWriter() override { discard(); }
  void write(const char* data, size_t n) override;
  // The whole content at once: `size` bytes of the file `from` from its
  // start, copied by the kernel (copy_file_range: no pass through memory,
  // shared extents where the file system can), whose MD5 is `etag`.
  // REQUIRES: nothing written yet.
  void copy_from(int from, uint64_t size, const std::string& etag);
  ObjectInfo commit() override;

 private:
  // Drops the file being written (and the folders made for it) at once,
  // giving its space back; the writer is then done.
  void discard();
  [[noreturn]] void fail(const char* what, int err) {
    discard();
    write_failed(p_, what, err);
  }
  void record_attrs(const std::string& etag);
  void link();
  void write_behind();

  LocalStore& store_;
  ObsPath p_;
  std::string key_;
  PutOptions o_;
  ObjectStore::Durability durability_;
  int dfd_ = -1;         // the object's folder (LocalStore::kNoOpenat2: none, the path is resolved at commit)
  int fd_ = -1;          // the file being written; -1 once committed or discarded
  fs::path tmp_;         // the named temporary file, when there is one
  fs::path created_;     // the topmost folder made for the object, removed again when the upload is given up
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md_{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  std::string known_etag_;  // copy_from's: the content was not hashed here
  uint64_t total_ = 0;
  uint64_t written_back_ = 0;  // bytes whose writeback write() has started
};

LocalWriter::LocalWriter(LocalStore& store, const ObsPath& p, std::string key, const PutOptions& o,
                         ObjectStore::Durability d)
    : store_(store), p_(p), key_(std::move(key)), o_(o), durability_(d) {
  dfd_ = store.open_parent(p, &created_);
  if (dfd_ == LocalStore::kNoOpenat2) store.resolve(p, /*for_write=*/true);  // the 404 of a missing bucket, now
  bool tmpfile = dfd_ >= 0 && store.have_tmpfile_;
  fd_ = tmpfile ? ::openat(dfd_, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644) : -1;
  if (fd_ < 0 && tmpfile && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL))
    store.have_tmpfile_ = false;  // this file system has none: named temporary files from now on
  if (fd_ < 0) {
    fs::path named = store.tmp_ / crypto::random_hex(12);
    fd_ = ::open(named.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create temporary object file", errno);  // no destructor runs: discard() here
    tmp_ = std::move(named);
  }
  EVP_DigestInit_ex2(md_.get(), LocalStore::md5_algorithm(), nullptr);
}

void LocalWriter::write(const char* data, size_t n) {
  if (fd_ < 0) throw std::runtime_error("object writer used after commit or a failure");
  EVP_DigestUpdate(md_.get(), data, n);
  if (!write_all(fd_, data, n)) fail("object write failed", errno);
  total_ += n;
  write_behind();
}

// A put durable at commit starts the disk writing what it was given every
// kWriteBehind bytes, without waiting for it: the disk works while the rest
// arrives, and commit's fsync finds little left to do. Its failures are
// fsync's to report.
void LocalWriter::write_behind() {
  constexpr uint64_t kWriteBehind = 8 << 20;
  if (durability_ != ObjectStore::Durability::kNow || total_ - written_back_ < kWriteBehind) return;
  ::sync_file_range(fd_, off64_t(written_back_), off64_t(total_ - written_back_), SYNC_FILE_RANGE_WRITE);
  written_back_ = total_;
}

void LocalWriter::copy_from(int from, uint64_t size, const std::string& etag) {
  if (fd_ < 0 || total_ != 0) throw std::runtime_error("object writer used after commit, a failure or a write");
  loff_t at = 0;
  while (uint64_t(at) < size) {
    ssize_t n = ::copy_file_range(from, &at, fd_, nullptr, size - uint64_t(at), 0);
    if (n > 0) continue;
    if (n == 0) fail("object copy failed: the source changed while it was copied", EIO);
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) fail("object copy failed", errno);
    // Not between these files (another file system, an old kernel): through memory.
    std::unique_ptr<char[]> buf(new char[1 << 16]);
    while (uint64_t(at) < size) {
      ssize_t r = ::pread(from, buf.get(), std::min<uint64_t>(1 << 16, size - uint64_t(at)), at);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) fail("object copy failed", r < 0 ? errno : EIO);
      if (!write_all(fd_, buf.get(), size_t(r))) fail("object write failed", errno);
      at += r;
    }
  }
  total_ = size;
  known_etag_ = etag;
}

ObjectInfo LocalWriter::commit() {
  if (fd_ < 0) throw std::runtime_error("object writer used after commit or a failure");
  std::string etag = known_etag_;
  if (etag.empty()) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md_.get(), digest, &dl);
    etag = crypto::hex(std::string_view((char*)digest, dl));
  }
  std::string expect = o_.expect_md5;
  std::transform(expect.begin(), expect.end(), expect.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (!expect.empty() && expect != etag) {
    discard();
    throw ApiError(400, "BadDigest", "The Content-MD5 you specified did not match what was received.");
  }
  if (!o_.etag.empty()) etag = o_.etag;  // an object assembled from parts keeps S3's etag of them
  struct stat st {};
  try {
    record_attrs(etag);
    if (durability_ == ObjectStore::Durability::kNow && ::fsync(fd_) != 0) fail("object fsync failed", errno);
    if (::fstat(fd_, &st) != 0) fail("object stat failed", errno);
    link();
  } catch (...) {
    discard();
    throw;
  }
  created_.clear();  // the folders hold the object now
  discard();         // closes the file, which keeps its name
  ObjectInfo info = object_info(key_, total_, mtime_ms(st), std::move(etag));
  info.content_type = std::move(o_.content_type);
  info.metadata = std::move(o_.metadata);
  return info;
}

// Names the finished file; its folder removed meanwhile is made again.
void LocalWriter::link() {
  if (dfd_ == LocalStore::kNoOpenat2) return store_.place(p_, tmp_);
  if (store_.link_into(p_, dfd_, fd_, tmp_)) return;
  ::close(dfd_);
  dfd_ = -1;
  dfd_ = store_.open_parent(p_);
  if (!store_.link_into(p_, dfd_, fd_, tmp_)) fail("object link failed", ENOENT);
}

// The attributes go on the file before it has a name, so they appear with
// the content (see kEtagAttr).
void LocalWriter::record_attrs(const std::string& etag) {
  if (!store_.have_xattr_) return;
  auto set = [&](const char* name, std::string_view value) {
    if (::fsetxattr(fd_, name, value.data(), value.size(), 0) == 0) return true;
    int err = errno;
    if (err == ENOTSUP) {
      store_.have_xattr_ = false;  // a file system without them: the content alone
      return false;
    }
    // ext4 also says ENOSPC when the attributes outgrow the one block it
    // keeps them in: with space left on the disk, the metadata is too large.
    struct statvfs vfs;
    if (err == E2BIG || err == ERANGE || (err == ENOSPC && ::fstatvfs(fd_, &vfs) == 0 && vfs.f_bavail > 0))
      throw metadata_too_large();
    fail("cannot record the object's metadata", err);
  };
  if (!set(kEtagAttr, etag)) return;
  if (!o_.content_type.empty()) set(kTypeAttr, o_.content_type);
  if (!o_.metadata.empty()) set(kMetaAttr, encode_metadata(o_.metadata));
}

void LocalWriter::discard() {
  if (fd_ >= 0) ::close(fd_);
  if (dfd_ >= 0) ::close(dfd_);
  fd_ = dfd_ = -1;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
  if (!created_.empty()) store_.remove_created(p_, created_);
  created_.clear();
}

// One write path: put() is a writer fed from the source.
ObjectInfo LocalStore::put(const ObsPath& client, const Source& src, Durability durability) {
  if (client.key.empty()) throw bad_request("An object key is required.");
  ObsPath p = on_disk(client);
  if (p.key.back() == '/') {  // a folder marker
    fs::path dest = resolve(p, /*for_write=*/true);
    std::error_code ec;
    fs::create_directories(dest, ec);
    if (ec || !fs::is_directory(dest))
      throw ApiError(409, "ModelArts.0101", "Cannot create folder " + p.str() + ": an object has that name or a parent's");
    return object_info(client.key, 0, 0, kEmptyMd5);
  }
  static const PutOptions kNone;
  LocalWriter w(*this, p, client.key, kNone, durability);
  thread_local std::unique_ptr<char[]> buf(new char[1 << 16]);
  while (size_t n = src(buf.get(), 1 << 16)) w.write(buf.get(), n);
  return w.commit();
}

// The checks writer() and copy() make of the object to write.
void check_object_key(const ObsPath& p) {
  if (!valid_bucket(p.bucket) || !valid_object_key(p.key)) throw bad_request("Invalid OBS path " + p.str());
  if (p.key.empty()) throw bad_request("An object key is required.");
  if (p.key.back() == '/') throw bad_request("OBS path " + p.str() + " names a folder, not an object");
}

std::unique_ptr<ObjectWriter> LocalStore::writer(const ObsPath& p, const PutOptions& o, Durability durability) {
  check_object_key(p);
  check_options(o);
  return std::make_unique<LocalWriter>(*this, on_disk(p), p.key, o, durability);
}

// The content is copied by the kernel when the source's ETag is known (its
// attribute), else read and hashed like a put's.
std::optional<ObjectInfo> LocalStore::copy(const ObsPath& from, const ObsPath& to,
                                           const std::optional<PutOptions>& replace) {
  check_object_key(to);
  if (replace) check_options(*replace);
  if (from.key.empty() || from.key.back() == '/') return std::nullopt;  // folders have no content
  ObsPath src = on_disk(from);
  struct stat st;
  int sfd = open_object(src, O_RDONLY, st);
  if (sfd == kNoOpenat2) sfd = open_resolved(src, st);
  if (sfd < 0) return std::nullopt;
  std::unique_ptr<FileReader> source = std::make_unique<FileReader>(sfd, from.key, st);  // closes sfd
  ObjectInfo was = source->info();
  PutOptions o;
  if (replace) {
    o = *replace;
  } else {
    o.content_type = std::move(was.content_type);
    o.metadata = std::move(was.metadata);
  }
  LocalWriter w(*this, on_disk(to), to.key, o, Durability::kNow);
  if (!was.etag.empty()) {
    w.copy_from(sfd, was.size, was.etag);
  } else {
    std::unique_ptr<char[]> buf(new char[1 << 16]);
    while (size_t n = source->read(buf.get(), 1 << 16)) w.write(buf.get(), n);
  }
  return w.commit();
}

// Keeps the folders it has used open (at most 64 at a time) and reaches each
// object from its folder by name: one system call per head or open instead
// of a walk from the root. The folder itself was opened beneath the root with
// no symlink on the way, and the object's name is a single component opened
// without following a symlink, so nothing outside the bucket can be reached.
class LocalScanner : public Scanner {
 public:
  explicit LocalScanner(LocalStore& store) : Scanner(store), local_(store) {}
  ~LocalScanner() override { forget(); }

  // One fstatat: no ETag, content type or metadata (reading them takes an
  // open of the file, and imports head every sample they add).
  std::optional<ObjectInfo> head(const ObsPath& p) override {
    auto [dfd, name] = folder(p);
    if (dfd == LocalStore::kNoOpenat2) return Scanner::head(p);
    if (dfd < 0) return std::nullopt;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
    if (S_ISLNK(st.st_mode)) throw bad_request("OBS path " + p.str() + " leads outside its bucket");
    if (!S_ISREG(st.st_mode)) return std::nullopt;
    return object_info(p.key, uint64_t(st.st_size), mtime_ms(st));
  }

  std::optional<std::string> get_all(const ObsPath& p) override { return read_all(p, nullptr); }
  std::optional<std::string> get_all_at_hand(const ObsPath& p, bool& pending) override {
    pending = false;
    return read_all(p, &pending);
  }

 private:
  // The whole object; with `pending`, only from memory (get_all_at_hand).
  std::optional<std::string> read_all(const ObsPath& p, bool* pending) {
    auto [dfd, name] = folder(p);
    if (dfd == LocalStore::kNoOpenat2) return Scanner::get_all(p);
    if (dfd < 0) return std::nullopt;
    // O_NOATIME: reading a just-written file would otherwise write its
    // inode back (relatime), for every file an import reads.
    // O_NONBLOCK: a FIFO placed in the store must not hang the reader.
    int fd = ::openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME | O_NONBLOCK);
    if (fd < 0 && errno == EPERM) fd = ::openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);  // not our file
    if (fd < 0) {
      if (errno == ELOOP) throw bad_request("OBS path " + p.str() + " leads outside its bucket");
      return std::nullopt;
    }
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    // No fstat first (2% of a manifest import's CPU in perf): what
    // is not a regular file shows in the reads -- a folder fails with
    // EISDIR, a FIFO reads as empty (then checked) -- and a read shorter
    // than asked is the end, as it is for a regular file.
    static const ssize_t page = ::sysconf(_SC_PAGESIZE);
    char first[16384];
    ssize_t n = -1;
    bool short_is_end = true, nowait = pending && nowait_;
    if (nowait) {
      // RWF_NOWAIT: what is not in the page cache fails with EAGAIN instead
      // of being waited for. Such a read may also stop short where the
      // cached part ends -- at a page boundary, so only a length that is
      // not a whole number of pages is surely the end.
      struct iovec v{first, sizeof first};
      do n = ::preadv2(fd, &v, 1, -1, RWF_NOWAIT);
      while (n < 0 && errno == EINTR);
      if (n < 0 && errno == EAGAIN) {
        if (struct stat st; fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
          ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);  // starts the reading, waits for nothing
          *pending = true;
        }
        return std::nullopt;  // pending, or a FIFO with nothing in it
      }
      if (n < 0 && errno == EOPNOTSUPP) {  // not for this file (a FIFO), or not on this file system
        if (struct stat st; fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) nowait_ = false;
        nowait = false;  // read as usual
      } else {
        short_is_end = n <= 0 || n % page != 0;
      }
    }
    if (!nowait)
      do n = ::read(fd, first, sizeof first);
      while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EISDIR || errno == EAGAIN || errno == EINVAL) return std::nullopt;
      throw std::runtime_error("object read failed");
    }
    if (struct stat st; n == 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) return std::nullopt;
    std::optional<std::string> out(std::in_place, first, size_t(n));
    if (size_t(n) < sizeof first && short_is_end) return out;
    for (;;) {  // larger than the first read (or only partly in memory)
      size_t have = out->size();
      if (have > kMaxScanned) throw Scanner::too_large(p);
      out->resize(std::min<size_t>(have * 2, kMaxScanned + 1));
      size_t want = out->size() - have;
      do n = ::read(fd, out->data() + have, want);
      while (n < 0 && errno == EINTR);
      if (n < 0) throw std::runtime_error("object read failed");
      out->resize(have + size_t(n));
      if (size_t(n) < want) return out;
    }
  }

  // The descriptor of the object's folder (-1: no such folder) and the
  // object's name in it; kNoOpenat2 when the store answers instead (a
  // folder key, or a kernel without openat2).
  std::pair<int, const char*> folder(const ObsPath& client) {
    if (!valid_bucket(client.bucket) || !valid_object_key(client.key)) throw bad_request("Invalid OBS path " + client.str());
    if (client.key.empty() || client.key.back() == '/') return {LocalStore::kNoOpenat2, nullptr};  // folders: the store answers
    if (!plain_key(client.key)) escaped_ = on_disk(client);  // `name` points into it: kept until the next call
    const ObsPath& p = plain_key(client.key) ? client : escaped_;
    size_t slash = p.key.rfind('/');
    std::string_view dir_key = std::string_view(p.key).substr(0, slash == std::string::npos ? 0 : slash + 1);
    const char* name = p.key.c_str() + dir_key.size();
    // Most calls name the folder of the call before: that one is found
    // without building its name.
    if (last_ && last_->first.size() == p.bucket.size() + 1 + dir_key.size() &&
        std::string_view(last_->first).substr(0, p.bucket.size()) == p.bucket &&
        std::string_view(last_->first).substr(p.bucket.size() + 1) == dir_key)
      return {last_->second, name};
    std::string id = p.bucket + "/";
    id += dir_key;
    auto it = dirs_.find(id);
    if (it != dirs_.end()) {
      last_ = &*it;
      return {it->second, name};
    }
    if (dirs_.size() >= 64) forget();
    int fd = local_.open_beneath(ObsPath{p.bucket, std::string(dir_key)}, O_PATH | O_DIRECTORY);
    if (fd >= 0) last_ = &*dirs_.emplace(id, fd).first;  // a failure is not kept: the folder may appear, or descriptors free up
    return {fd, name};
  }

  void forget() {
    for (auto& [id, fd] : dirs_)
      if (fd >= 0) ::close(fd);
    dirs_.clear();
    last_ = nullptr;
  }

  LocalStore& local_;
  ObsPath escaped_;  // the path on disk of the last key that needed escaping
  bool nowait_ = true;  // false once a read without waiting was refused (EOPNOTSUPP)
  std::unordered_map<std::string, int> dirs_;
  std::pair<const std::string, int>* last_ = nullptr;  // the entry of the folder used last
};

std::unique_ptr<Scanner> LocalStore::scanner() { return std::make_unique<LocalScanner>(*this); }

}  // namespace

std::unique_ptr<ObjectStore> open_local_store(const std::string& root) {
  return std::make_unique<LocalStore>(root);
}

}  // namespace atelier::obs
