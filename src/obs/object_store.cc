// What every object-store backend shares: path parsing and validation, the
// helpers built on the ObjectStore interface, and the choice of backend by URL.
#include "obs/object_store.h"

#include <algorithm>
#include <regex>
#include <stdexcept>

#include "common/error.h"
#include "obs/s3_store.h"

namespace atelier::obs {

bool valid_bucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(b.front()) && alnum(b.back()) && b.find("..") == std::string_view::npos;
}

bool valid_key(std::string_view key) {
  if (key.size() > 1024 || key.find('\0') != std::string_view::npos) return false;
  if (key.empty()) return true;
  if (key.front() == '/') return false;
  size_t pos = 0;
  while (pos < key.size()) {
    size_t slash = key.find('/', pos);
    std::string_view seg = key.substr(pos, slash == std::string_view::npos ? key.npos : slash - pos);
    if (seg.empty() || seg == "." || seg == "..") return false;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return true;
}

bool valid_object_key(std::string_view key) {
  return key.size() <= 1024 && key.find('\0') == std::string_view::npos;
}

ObsPath parse_path(std::string_view path, std::string_view field) {
  auto fail = [&](const std::string& why) -> ApiError {
    return bad_request("Invalid parameter " + std::string(field) + ": " + why);
  };
  std::string_view rest = path;
  if (rest.rfind("obs://", 0) == 0 || rest.rfind("s3://", 0) == 0) {
    rest.remove_prefix(rest.find("://") + 3);
  } else if (!rest.empty() && rest.front() == '/') {
    rest.remove_prefix(1);
  } else {
    throw fail("an OBS path must look like /bucket/key, obs://bucket/key or s3://bucket/key");
  }
  size_t slash = rest.find('/');
  ObsPath p;
  p.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) p.key = std::string(rest.substr(slash + 1));
  if (!valid_bucket(p.bucket)) throw fail("'" + p.bucket + "' is not a valid bucket name");
  if (!valid_key(p.key)) throw fail("the object key must not contain '.', '..', empty segments or NUL");
  return p;
}

ObsPath parse_location(std::string_view path, std::string_view field) {
  static const std::regex https(R"(^https?://([a-z0-9][a-z0-9.\-]*[a-z0-9])\.obs\.[a-z0-9\-]+\.[a-z0-9.\-]+(/.*)?$)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(path.begin(), path.end(), m, https)) return parse_path(path, field);
  return parse_path("/" + m[1].str() + (m[2].matched ? m[2].str() : "/"), field);
}

ObjectInfo ObjectStore::put(const ObsPath& p, std::string_view data, Durability d) {
  size_t off = 0;
  return put(p, [&](char* buf, size_t cap) {
    size_t n = std::min(cap, data.size() - off);
    std::copy_n(data.data() + off, n, buf);
    off += n;
    return n;
  }, d);
}

ApiError no_space(const std::string& what) {
  // A 503, not a 507: clients and proxies retry a 503 later, when space may
  // have been freed; the code names the condition for whoever reads the log.
  return ApiError(503, "InsufficientStorage", what + ": no space left on the object store's disk");
}

// Through the reader and a writer: any backend can copy, at the price of
// the content passing through memory (a backend that can copy in place
// overrides this).
std::optional<ObjectInfo> ObjectStore::copy(const ObsPath& from, const ObsPath& to,
                                            const std::optional<PutOptions>& replace) {
  auto r = get(from);
  if (!r) return std::nullopt;
  PutOptions o;
  if (replace) {
    o = *replace;
  } else {
    ObjectInfo source = r->info();
    o.content_type = std::move(source.content_type);
    o.metadata = std::move(source.metadata);
  }
  auto w = writer(to, o);
  std::unique_ptr<char[]> buf(new char[1 << 16]);
  while (size_t n = r->read(buf.get(), 1 << 16)) w->write(buf.get(), n);
  return w->commit();
}

std::optional<ObjectInfo> Scanner::head(const ObsPath& p) { return store_.head(p); }
ApiError Scanner::too_large(const ObsPath& p) {
  return bad_request("Object " + p.str() + " is larger than " + std::to_string(Scanner::kMaxScanned >> 20) +
                     " MiB, more than an annotation or label file may be");
}

std::optional<std::string> Scanner::get_all(const ObsPath& p) {
  auto info = store_.head(p);
  if (info && info->size > kMaxScanned) throw too_large(p);
  return store_.get_all(p);
}

void ObjectStore::each(const std::string& bucket, const std::string& prefix,
                       const std::function<void(const ObjectInfo&)>& fn) {
  for (std::string marker;;) {
    auto page = list(bucket, prefix, "", marker, 1000);
    for (auto& o : page.objects) fn(o);
    if (!page.truncated) break;
    marker = page.next_marker;
  }
}

std::optional<std::string> ObjectStore::get_all(const ObsPath& p) {
  auto r = get(p);
  if (!r) return std::nullopt;
  std::string out;
  char buf[65536];
  while (size_t n = r->read(buf, sizeof buf)) out.append(buf, n);
  return out;
}

std::unique_ptr<ObjectStore> open_store(const std::string& url, const RemoteSettings& remote) {
  if (url.rfind("file://", 0) == 0 && url.size() > 7) return open_local_store(url.substr(7));
  if (url.rfind("s3://", 0) == 0) return open_s3_store(parse_s3_url(url, remote));
  throw std::runtime_error("object_store '" + url +
                           "': expected file:///folder (the local store) or s3://HOST:PORT (an S3-compatible service)");
}

}  // namespace atelier::obs
