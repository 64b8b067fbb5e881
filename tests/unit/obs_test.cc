// The object store (obs/object_store.h). Three kinds of tests:
//  - ObsParsePath, ObsValidators: OBS paths and names, no store involved.
//  - ObjectStoreContract: what every backend keeps and every caller relies on,
//    run once per backend of kObjectStoreBackends and reached only through the
//    ObjectStore interface: the local store, and the S3 backend on two real
//    S3 services (s3_peer.h). A new backend is one more line there.
//  - LocalStore*: what only the embedded backend (a folder per bucket) has:
//    its files and folders, temporary uploads, symlinks, FIFOs, the page
//    cache, files written past the store.
#include "obs/object_store.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "s3_peer.h"
#include "test_util.h"

using namespace atelier::obs;
using atelier::ApiError;
using atelier::testing::api_error;
using atelier::testing::TempDir;
namespace fs = std::filesystem;

// ------------------------------------------------------------ parse_path

TEST(ObsParsePath, AcceptsTheThreeForms) {
  ObsPath p = parse_path("/bucket-1/dir/file.txt");
  EXPECT_EQ(p.bucket, "bucket-1");
  EXPECT_EQ(p.key, "dir/file.txt");
  p = parse_path("obs://bucket-1/dir/file.txt");
  EXPECT_EQ(p.bucket, "bucket-1");
  EXPECT_EQ(p.key, "dir/file.txt");
  p = parse_path("s3://my.bucket/k");
  EXPECT_EQ(p.bucket, "my.bucket");
  EXPECT_EQ(p.key, "k");
  EXPECT_EQ(p.str(), "/my.bucket/k");
}

TEST(ObsParsePath, BucketOnlyAndFolders) {
  ObsPath p = parse_path("/bkt");
  EXPECT_EQ(p.bucket, "bkt");
  EXPECT_EQ(p.key, "");
  p = parse_path("obs://bkt/");
  EXPECT_EQ(p.bucket, "bkt");
  EXPECT_EQ(p.key, "");
  p = parse_path("/bkt/data/images/");
  EXPECT_EQ(p.key, "data/images/");
  EXPECT_EQ(p.str(), "/bkt/data/images/");
  // Keys may hold spaces and UTF-8.
  EXPECT_EQ(parse_path("/bkt/a b/\xe7\x8c\xab.jpg").key, "a b/\xe7\x8c\xab.jpg");
}

TEST(ObsParsePath, RejectsEscapesAndMalformedPaths) {
  const std::string nul_path = std::string("/bkt/a\0b", 8);
  for (std::string bad : {std::string("/bkt/../etc/passwd"), std::string("/bkt/a/../../x"),
                          std::string("/bkt/.."), std::string("/bkt/./x"), std::string("/bkt/."),
                          std::string("/bkt/a//b"), std::string("/bkt//a"), std::string("obs://bkt/a/./b"),
                          nul_path, std::string("bkt/key"), std::string("relative"), std::string(""),
                          std::string("http://bkt/k"), std::string("obs:/bkt/k"), std::string("obs://"),
                          std::string("/"), std::string("//bkt/k"), std::string("/BKT/k"),
                          std::string("/b/k"), std::string("/ab/k"), std::string("/-bkt/k"),
                          std::string("/bkt-/k"), std::string("/bk..t/k"), std::string("/bk_t/k"),
                          std::string("/" + std::string(64, 'a') + "/k"),
                          std::string("/bkt/" + std::string(1025, 'k'))}) {
    auto e = api_error([&] { parse_path(bad, "data_path"); });
    ASSERT_TRUE(e) << "accepted: " << bad;
    EXPECT_EQ(e->status(), 400) << bad;
    EXPECT_EQ(e->code(), "ModelArts.0101") << bad;
    EXPECT_NE(std::string(e->what()).find("data_path"), std::string::npos) << e->what();
  }
  // Exactly 63 characters and 1024-byte keys are fine.
  EXPECT_NO_THROW(parse_path("/" + std::string(63, 'a') + "/" + std::string(1024, 'k')));
}

TEST(ObsValidators, BucketAndKey) {
  EXPECT_TRUE(valid_bucket("abc"));
  EXPECT_TRUE(valid_bucket("a.b-c9"));
  EXPECT_FALSE(valid_bucket("ab"));
  EXPECT_FALSE(valid_bucket("Abc"));
  EXPECT_FALSE(valid_bucket("abc."));
  EXPECT_FALSE(valid_bucket(".abc"));
  EXPECT_FALSE(valid_bucket("a..bc"));
  EXPECT_FALSE(valid_bucket("a/bc"));
  EXPECT_TRUE(valid_key(""));
  EXPECT_TRUE(valid_key("a"));
  EXPECT_TRUE(valid_key("a/"));
  EXPECT_TRUE(valid_key("a/b/c.txt"));
  EXPECT_TRUE(valid_key("..a/b..")); // dots inside a name are fine
  EXPECT_FALSE(valid_key("/a"));
  EXPECT_FALSE(valid_key("/"));
  EXPECT_FALSE(valid_key("a//"));
  EXPECT_FALSE(valid_key("a/../b"));
  EXPECT_FALSE(valid_key("./a"));
  EXPECT_FALSE(valid_key(std::string("a\0", 2)));
}

// ------------------------------------------------------------ fixtures

namespace {

using V = std::vector<std::string>;

// What both kinds of store tests use: a store with the bucket "bkt".
class WithStore {
 protected:
  std::unique_ptr<ObjectStore> store;

  ObsPath P(const std::string& key) { return ObsPath{"bkt", key}; }
  void put(const std::string& key, const std::string& data = "x") { store->put(P(key), data); }

  static std::vector<std::string> keys(const ListResult& r) {
    std::vector<std::string> out;
    for (auto& o : r.objects) out.push_back(o.key);
    return out;
  }
  // Every key under `prefix`, listed `page` keys at a time with next_marker.
  std::vector<std::string> all_pages(const std::string& prefix, size_t page) {
    std::vector<std::string> got;
    std::string marker;
    for (int i = 0; i < 100000; ++i) {
      ListResult r = store->list("bkt", prefix, "", marker, page);
      for (auto& o : r.objects) got.push_back(o.key);
      if (!r.truncated) break;
      marker = r.next_marker;
    }
    return got;
  }
};

// How a test reaches its store: open_store(url, remote) (again: the same store).
struct StoreAddress {
  std::string url;
  RemoteSettings remote;
  std::string skip;  // why the backend cannot run here; empty when it can
};

// A backend the contract runs on.
struct ObjectStoreBackend {
  std::string name;  // the test name's suffix
  // A fresh, empty store for one test. `scratch` is a folder the test owns
  // and removes afterwards.
  std::function<StoreAddress(const TempDir& scratch)> fresh;
  // Contract cases the service behind the backend is known to break, by
  // test name, with what it does wrong: skipped, never relaxed.
  std::map<std::string, std::string> service_defects = {};
};

void PrintTo(const ObjectStoreBackend& b, std::ostream* os) { *os << b.name; }

// The S3 backend on a peer (s3_peer.h), emptied for the test.
StoreAddress on_peer(const atelier::testing::S3Peer& peer) {
  if (!peer.skip.empty()) return {"", {}, peer.skip};
  atelier::testing::empty_peer(peer);
  return {peer.url, peer.endpoint.settings, ""};
}

const ObjectStoreBackend kObjectStoreBackends[] = {
    {"local", [](const TempDir& scratch) { return StoreAddress{"file://" + scratch.file("data"), {}, ""}; }},
    {"s3_atelier", [](const TempDir&) { return on_peer(atelier::testing::atelier_peer()); }},
    {"s3rver", [](const TempDir&) { return on_peer(atelier::testing::s3rver_peer()); },
     {{"PagesThroughNestedFoldersInKeyOrder",
       "s3rver lists in the order of its folder walk (a/1 before a-), not in byte order, so pages skip keys"},
      {"ACopyReplacesAnExistingObject",
       "s3rver keeps the old ETag of an object a copy of an empty object replaced"},
      {"AnyS3KeyRoundTrips", "s3rver keeps objects as files and folds '..' and empty segments of a key"},
      {"ScannerReadsAndHeadsLikeTheStore", "s3rver folds '..' segments of a key (s/../top finds top)"}}},
};

class ObjectStoreContract : public ::testing::TestWithParam<ObjectStoreBackend>, public WithStore {
 protected:
  TempDir tmp;
  StoreAddress address;
  std::unique_ptr<ObjectStore> open() { return open_store(address.url, address.remote); }
  void SetUp() override {
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();  // "Case/backend"
    auto defect = GetParam().service_defects.find(test.substr(0, test.find('/')));
    if (defect != GetParam().service_defects.end()) GTEST_SKIP() << defect->second;
    address = GetParam().fresh(tmp);
    if (!address.skip.empty()) GTEST_SKIP() << address.skip;
    store = open();
    store->create_bucket("bkt");
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreContract, ::testing::ValuesIn(kObjectStoreBackends),
                         [](const ::testing::TestParamInfo<ObjectStoreBackend>& info) { return info.param.name; });

// The embedded backend on a folder of its own, `root`.
class LocalStore : public ::testing::Test, public WithStore {
 protected:
  TempDir tmp;
  std::string root = tmp.file("data");
  void SetUp() override {
    store = open_local_store(root);
    store->create_bucket("bkt");
  }
};

}  // namespace

// ============================================================ the contract, every backend

TEST_P(ObjectStoreContract, OpenedAgainByUrlItHoldsTheSameObjects) {
  put("a/b", "content");
  store->create_bucket("second");
  store.reset();
  store = open();
  EXPECT_EQ(store->get_all(P("a/b")), "content");
  EXPECT_TRUE(store->bucket_exists("second"));
}

TEST(ObjectStoreUrl, UnknownSchemeThrowsNamingWhatIsSupported) {
  try {
    open_store("nosuchstore://bucket");
    ADD_FAILURE() << "accepted an unknown scheme";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("file://"), std::string::npos) << e.what();
  }
  EXPECT_ANY_THROW(open_store("file://"));  // no folder
}

TEST_P(ObjectStoreContract, Buckets) {
  EXPECT_TRUE(store->bucket_exists("bkt"));
  EXPECT_FALSE(store->bucket_exists("other"));
  EXPECT_FALSE(store->bucket_exists(".tmp"));  // not a bucket name, so never a bucket
  EXPECT_NO_THROW(store->create_bucket("bkt"));  // idempotent
  EXPECT_API_ERROR(store->create_bucket("Bad_Name"), 400, "ModelArts.0101");
  EXPECT_API_ERROR(store->create_bucket(".."), 400, "ModelArts.0101");
  store->create_bucket("a-bucket");
  store->create_bucket("z.bucket");
  EXPECT_EQ(store->buckets(), V({"a-bucket", "bkt", "z.bucket"}));  // byte order
}

TEST_P(ObjectStoreContract, PutGetHeadRemove) {
  ObjectInfo info = store->put(P("dir/hello.txt"), "hello");
  EXPECT_EQ(info.key, "dir/hello.txt");
  EXPECT_EQ(info.size, 5u);
  EXPECT_EQ(info.etag, "5d41402abc4b2a76b9719d911017c592");  // md5("hello")

  auto data = store->get_all(P("dir/hello.txt"));
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, "hello");
  auto reader = store->get(P("dir/hello.txt"));
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->size(), 5u);

  auto h = store->head(P("dir/hello.txt"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->size, 5u);
  // head need not read the object: its ETag is the content's MD5 or left empty.
  EXPECT_TRUE(h->etag.empty() || h->etag == info.etag) << h->etag;
  EXPECT_GT(h->mtime_ms, 1600000000000LL);
  EXPECT_TRUE(store->exists(P("dir/hello.txt")));
  EXPECT_FALSE(store->exists(P("dir/hello")));
  EXPECT_FALSE(store->exists(P("dir")));  // a folder is not an object

  EXPECT_TRUE(store->remove(P("dir/hello.txt")));
  EXPECT_FALSE(store->exists(P("dir/hello.txt")));
  EXPECT_FALSE(store->remove(P("dir/hello.txt")));
  EXPECT_EQ(store->get(P("dir/hello.txt")), nullptr);
  EXPECT_FALSE(store->get_all(P("dir/hello.txt")).has_value());
  EXPECT_FALSE(store->head(P("dir/hello.txt")).has_value());
  // Nothing is left of the folder the object was in (S3 has no real folders).
  EXPECT_TRUE(store->list("bkt", "dir/", "", "", 100).objects.empty());
  EXPECT_FALSE(store->head(P("dir/")).has_value());
  EXPECT_TRUE(store->bucket_exists("bkt"));
}

TEST_P(ObjectStoreContract, EmptyAndBinaryAndLargeObjects) {
  ObjectInfo e = store->put(P("empty"), "");
  EXPECT_EQ(e.size, 0u);
  EXPECT_EQ(e.etag, "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(store->get_all(P("empty")), std::string());

  std::string bin;
  for (int i = 0; i < 200000; ++i) bin.push_back(char(i * 31 + 7));
  ObjectInfo b = store->put(P("big.bin"), bin);
  EXPECT_EQ(b.size, bin.size());
  EXPECT_EQ(store->get_all(P("big.bin")), bin);
  EXPECT_EQ(b.etag, atelier::crypto::md5_hex(bin));
  EXPECT_EQ(store->head(P("big.bin"))->size, bin.size());
}

TEST_P(ObjectStoreContract, PutReplacesAndStreamsFromSource) {
  put("k", "first version");
  // A source that hands out data in small chunks.
  std::string payload = "0123456789abcdefghij";
  size_t off = 0;
  ObjectInfo info = store->put(P("k"), [&](char* buf, size_t cap) -> size_t {
    size_t n = std::min<size_t>({cap, 3, payload.size() - off});
    std::copy_n(payload.data() + off, n, buf);
    off += n;
    return n;
  });
  EXPECT_EQ(info.size, payload.size());
  EXPECT_EQ(store->get_all(P("k")), payload);
  EXPECT_EQ(store->head(P("k"))->size, payload.size());
}

TEST_P(ObjectStoreContract, FailedUploadLeavesTheOldObject) {
  put("k", "old");
  EXPECT_THROW(store->put(P("k"), [](char*, size_t) -> size_t { throw std::runtime_error("client went away"); }),
               std::runtime_error);
  EXPECT_EQ(store->get_all(P("k")), "old");
  // A new object that failed is not there at all.
  EXPECT_THROW(store->put(P("new"), [](char*, size_t) -> size_t { throw std::runtime_error("client went away"); }),
               std::runtime_error);
  EXPECT_FALSE(store->head(P("new")).has_value());
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"k"}));
}

TEST_P(ObjectStoreContract, PutErrors) {
  EXPECT_API_ERROR(store->put(ObsPath{"nobucket", "k"}, "x"), 404, "ModelArts.0015");
  EXPECT_API_ERROR(store->put(P(""), "x"), 400, "ModelArts.0101");
  EXPECT_API_ERROR(store->put(ObsPath{"BAD", "k"}, "x"), 400, "ModelArts.0101");
  EXPECT_TRUE(store->list("bkt", "", "", "", 100).objects.empty());
}

// Puts whose durability waits for sync() are read back at once, and sync()
// makes them last (the store opened again still has them).
TEST_P(ObjectStoreContract, DeferredPutsAreReadAtOnceAndSyncKeepsThem) {
  for (int i = 0; i < 20; ++i)
    store->put(P("d/" + std::to_string(i)), "v" + std::to_string(i), ObjectStore::Durability::kDeferred);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(store->get_all(P("d/" + std::to_string(i))), "v" + std::to_string(i));
  store->sync();
  store.reset();
  store = open();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(store->get_all(P("d/" + std::to_string(i))), "v" + std::to_string(i));
}

TEST_P(ObjectStoreContract, TrailingSlashNamesAFolderNotAnObject) {
  // "file/" is a different key from "file": it must not resolve to the object.
  put("file", "abc");
  EXPECT_FALSE(store->head(P("file/")).has_value());
  EXPECT_EQ(store->get(P("file/")), nullptr);
  EXPECT_TRUE(store->head(P("file")).has_value());
}

TEST_P(ObjectStoreContract, DotsInsideNamesCanBeListed) {
  // valid_key allows "v1..2" (only whole "." / ".." segments are refused),
  // so a prefix naming such a folder must be listable too.
  put("v1..2/model.bin");
  ListResult r;
  auto e = api_error([&] { r = store->list("bkt", "v1..2/", "", "", 100); });
  EXPECT_FALSE(e.has_value()) << e->what();
  EXPECT_EQ(keys(r), V({"v1..2/model.bin"}));
}

TEST_P(ObjectStoreContract, GetMissingBucketOrFolder) {
  EXPECT_EQ(store->get(ObsPath{"nobucket", "k"}), nullptr);
  EXPECT_FALSE(store->head(ObsPath{"nobucket", "k"}).has_value());
  put("d/x");
  EXPECT_EQ(store->get(P("d")), nullptr);  // a folder is not an object
  EXPECT_FALSE(store->head(P("d")).has_value());
}

TEST_P(ObjectStoreContract, FolderMarkers) {
  ObjectInfo f = store->put(P("models/"), "");
  EXPECT_EQ(f.key, "models/");
  EXPECT_EQ(f.size, 0u);
  auto h = store->head(P("models/"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->size, 0u);
  EXPECT_EQ(h->etag, "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_FALSE(store->head(P("models")).has_value());  // without the slash it is no object
  auto marker = store->get(P("models/"));  // a marker has no content (the local store has no reader for it)
  EXPECT_TRUE(marker == nullptr || marker->size() == 0);

  // An empty folder lists as an object of its own.
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"models/"}));
  EXPECT_EQ(keys(store->list("bkt", "mod", "", "", 100)), V({"models/"}));

  // Removing the marker leaves what is under it; once empty, it can go.
  put("models/m1", "w");
  store->remove(P("models/"));
  EXPECT_TRUE(store->get_all(P("models/m1")).has_value());
  EXPECT_TRUE(store->remove(P("models/m1")));
  store->put(P("models/"), "");
  EXPECT_TRUE(store->remove(P("models/")));
  EXPECT_FALSE(store->head(P("models/")).has_value());
  EXPECT_FALSE(store->remove(P("")));
}

TEST_P(ObjectStoreContract, ListingWithFolderAsPrefixIncludesTheMarker) {
  // head() reports "models/" as an object; list() of keys starting with
  // "models/" must then include it as well (S3/OBS list the marker).
  store->put(P("models/"), "");
  ASSERT_TRUE(store->head(P("models/")).has_value());
  EXPECT_EQ(keys(store->list("bkt", "models/", "/", "", 100)), V({"models/"}));
  EXPECT_EQ(keys(store->list("bkt", "models/", "", "", 100)), V({"models/"}));
}

TEST_P(ObjectStoreContract, ListByteOrder) {
  for (const char* k : {"a/b", "a-c", "a0", "a.txt", "B", "a/a/z", "ab"}) put(k);
  ListResult r = store->list("bkt", "", "", "", 1000);
  // Pure byte order of the full keys: 'B' < 'a'; '-' < '.' < '/' < '0' < 'b'.
  EXPECT_EQ(keys(r), V({"B", "a-c", "a.txt", "a/a/z", "a/b", "a0", "ab"}));
  EXPECT_FALSE(r.truncated);
  EXPECT_TRUE(r.common_prefixes.empty());
  for (auto& o : r.objects) EXPECT_EQ(o.size, 1u) << o.key;
}

TEST_P(ObjectStoreContract, ListPrefix) {
  for (const char* k : {"data/a.jpg", "data/b.jpg", "data/sub/c.jpg", "data2/x", "dat", "other"}) put(k);
  EXPECT_EQ(keys(store->list("bkt", "data/", "", "", 1000)), V({"data/a.jpg", "data/b.jpg", "data/sub/c.jpg"}));
  EXPECT_EQ(keys(store->list("bkt", "data", "", "", 1000)),
            V({"data/a.jpg", "data/b.jpg", "data/sub/c.jpg", "data2/x"}));
  EXPECT_EQ(keys(store->list("bkt", "data/b", "", "", 1000)), V({"data/b.jpg"}));
  EXPECT_EQ(keys(store->list("bkt", "data/sub/", "", "", 1000)), V({"data/sub/c.jpg"}));
  EXPECT_TRUE(store->list("bkt", "nothing/", "", "", 1000).objects.empty());
  EXPECT_TRUE(store->list("bkt", "zzz", "", "", 1000).objects.empty());
  EXPECT_TRUE(store->list("nobucket", "", "", "", 1000).objects.empty());
  EXPECT_TRUE(store->list("bkt", "../", "", "", 10).objects.empty());  // a key like any other: none there
  EXPECT_API_ERROR(store->list("BAD", "", "", "", 10), 400, "ModelArts.0101");
}

TEST_P(ObjectStoreContract, ListDelimiterFoldsCommonPrefixes) {
  for (const char* k : {"data/a.jpg", "data/sub/c.jpg", "data/sub/d.jpg", "data/tub/e.jpg", "top.txt", "x/y"}) put(k);
  ListResult r = store->list("bkt", "", "/", "", 1000);
  EXPECT_EQ(keys(r), V({"top.txt"}));
  EXPECT_EQ(r.common_prefixes, V({"data/", "x/"}));

  r = store->list("bkt", "data/", "/", "", 1000);
  EXPECT_EQ(keys(r), V({"data/a.jpg"}));
  EXPECT_EQ(r.common_prefixes, V({"data/sub/", "data/tub/"}));
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.next_marker, "");
}

TEST_P(ObjectStoreContract, ListMarkerIsExclusive) {
  for (const char* k : {"a", "b", "c", "d"}) put(k);
  EXPECT_EQ(keys(store->list("bkt", "", "", "b", 1000)), V({"c", "d"}));
  EXPECT_EQ(keys(store->list("bkt", "", "", "bb", 1000)), V({"c", "d"}));
  EXPECT_EQ(keys(store->list("bkt", "", "", "d", 1000)), V{});
}

TEST_P(ObjectStoreContract, ListMaxKeysTruncatesAndPaginates) {
  std::vector<std::string> all;
  for (int i = 0; i < 7; ++i) {
    std::string k = "f/" + std::to_string(i);
    put(k);
    all.push_back(k);
  }
  ListResult r = store->list("bkt", "", "", "", 3);
  EXPECT_EQ(keys(r), V({"f/0", "f/1", "f/2"}));
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.next_marker, "f/2");

  // Walk all pages with next_marker.
  std::vector<std::string> got;
  std::string marker;
  int pages = 0;
  for (;;) {
    ListResult page = store->list("bkt", "", "", marker, 3);
    for (auto& o : page.objects) got.push_back(o.key);
    ++pages;
    if (!page.truncated) break;
    ASSERT_FALSE(page.next_marker.empty());
    marker = page.next_marker;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(got, all);
  EXPECT_EQ(pages, 3);

  // Exactly max_keys results is not truncated.
  r = store->list("bkt", "", "", "f/3", 3);
  EXPECT_EQ(keys(r), V({"f/4", "f/5", "f/6"}));
  EXPECT_FALSE(r.truncated);
}

TEST_P(ObjectStoreContract, ListPaginatesCommonPrefixes) {
  for (const char* k : {"a/1", "a/2", "b/1", "c", "d/1", "e"}) put(k);
  std::vector<std::string> objs, prefixes;
  std::string marker;
  for (int i = 0; i < 10; ++i) {
    ListResult r = store->list("bkt", "", "/", marker, 2);
    EXPECT_LE(r.objects.size() + r.common_prefixes.size(), 2u);
    for (auto& o : r.objects) objs.push_back(o.key);
    for (auto& p : r.common_prefixes) prefixes.push_back(p);
    if (!r.truncated) break;
    marker = r.next_marker;
  }
  EXPECT_EQ(objs, V({"c", "e"}));
  EXPECT_EQ(prefixes, V({"a/", "b/", "d/"}));
}

TEST_P(ObjectStoreContract, PagesThroughNestedFoldersInKeyOrder) {
  std::vector<std::string> want;
  for (const char* k : {"a-", "a.b/1", "a/1", "a/2/x", "a/2/y", "a/20", "a/3/", "b/c/d/e", "b/c/f", "b0", "c/1", "c/2"}) {
    put(k, "");
    want.push_back(k);
  }
  std::sort(want.begin(), want.end());
  for (size_t page : {1, 2, 3, 5, 1000}) EXPECT_EQ(all_pages("", page), want) << page;
  std::vector<std::string> under_a;
  for (auto& k : want)
    if (k.rfind("a/", 0) == 0) under_a.push_back(k);
  EXPECT_EQ(all_pages("a/", 2), under_a);
}

// each() hands every object under the prefix once, in key order, a page at a
// time, and the callback may remove the object it is given (cleanups do).
TEST_P(ObjectStoreContract, EachVisitsEveryObjectInOrderAndMayRemoveIt) {
  std::vector<std::string> want;
  for (int i = 0; i < 1203; ++i) {  // more than one page
    char k[32];
    std::snprintf(k, sizeof k, "e/%02d/%04d", i % 7, i);
    store->put(P(k), "x", ObjectStore::Durability::kDeferred);  // (one sync, not 1203)
    want.push_back(k);
  }
  store->sync();
  put("e-not-under/x");
  put("other/x");
  std::sort(want.begin(), want.end());
  std::vector<std::string> seen;
  store->each("bkt", "e/", [&](const ObjectInfo& o) {
    seen.push_back(o.key);
    EXPECT_TRUE(store->remove(P(o.key))) << o.key;
  });
  EXPECT_EQ(seen, want);
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"e-not-under/x", "other/x"}));
}

TEST_P(ObjectStoreContract, ScannerReadsAndHeadsLikeTheStore) {
  put("s/a.txt", "alpha");
  put("s/deep/b.txt", "beta");
  put("top", "t");
  auto scan = store->scanner();
  for (int round = 0; round < 2; ++round) {  // the second round reuses the open folders
    EXPECT_EQ(scan->get_all(P("s/a.txt")).value_or("?"), "alpha");
    EXPECT_EQ(scan->get_all(P("s/deep/b.txt")).value_or("?"), "beta");
    EXPECT_EQ(scan->get_all(P("top")).value_or("?"), "t");
    auto h = scan->head(P("s/a.txt"));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->size, 5u);
    EXPECT_EQ(h->mtime_ms, store->head(P("s/a.txt"))->mtime_ms);
    EXPECT_FALSE(scan->head(P("s/missing")));
    EXPECT_FALSE(scan->get_all(P("s/missing")));
    EXPECT_FALSE(scan->get_all(P("nofolder/x")));
    EXPECT_FALSE(scan->head(P("s/deep")));     // a folder is not an object
    EXPECT_FALSE(scan->get_all(P("s/deep")));
    EXPECT_EQ(scan->head(P("s/deep/")).has_value(), store->head(P("s/deep/")).has_value());  // a folder key as the store answers it
  }
  // A file replaced after the folder was opened is read anew.
  put("s/a.txt", "changed");
  EXPECT_EQ(scan->get_all(P("s/a.txt")).value_or("?"), "changed");
  EXPECT_FALSE(scan->head(P("s/../top")));  // keys, not paths: no such object
  EXPECT_FALSE(scan->get_all(P("s//a.txt")));
}

// get_all_at_hand gives the content at once (nothing pending), or starts its
// reading (pending) and get_all then has it: either way the same content.
TEST_P(ObjectStoreContract, ScannerAtHandGivesTheContentNowOrLater) {
  put("s/a.xml", "<annotation/>");
  put("s/empty", "");
  put("s/big", std::string(100000, 'b'));
  auto scan = store->scanner();
  for (auto& [key, want] : std::vector<std::pair<std::string, std::optional<std::string>>>{
           {"s/a.xml", "<annotation/>"}, {"s/empty", ""}, {"s/big", std::string(100000, 'b')},
           {"s/missing", std::nullopt}, {"s", std::nullopt}}) {
    bool pending = false;
    auto got = scan->get_all_at_hand(P(key), pending);
    if (pending) {
      EXPECT_EQ(got, std::nullopt) << key;
      EXPECT_EQ(scan->get_all(P(key)), want) << key;
    } else {
      EXPECT_EQ(got, want) << key;
    }
  }
}

// ------------------------------------------------------------ writers, metadata, copies

namespace {
// A writer's whole content, given in pieces of `piece` bytes.
ObjectInfo write_all(ObjectStore& store, const ObsPath& p, const std::string& data, const PutOptions& o = {},
                     size_t piece = 7) {
  auto w = store.writer(p, o);
  for (size_t off = 0; off < data.size(); off += piece) w->write(data.data() + off, std::min(piece, data.size() - off));
  return w->commit();
}
const std::map<std::string, std::string> kMeta = {{"author", "ann"}, {"camera", "\xe7\x8c\xab 7"}, {"empty", ""}};
}  // namespace

TEST_P(ObjectStoreContract, AWriterShowsNothingBeforeCommit) {
  put("w/obj", "old");
  auto w = store->writer(P("w/obj"), {});
  w->write("new ", 4);
  auto fresh = store->writer(P("w/fresh"), {});
  fresh->write("x", 1);
  // Neither the new content nor the new object is there yet.
  EXPECT_EQ(store->get_all(P("w/obj")), "old");
  EXPECT_FALSE(store->head(P("w/fresh")));
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"w/obj"}));
  w->write("content", 7);
  ObjectInfo info = w->commit();
  EXPECT_EQ(info.key, "w/obj");
  EXPECT_EQ(info.size, 11u);
  EXPECT_EQ(info.etag, atelier::crypto::md5_hex("new content"));
  EXPECT_EQ(store->get_all(P("w/obj")), "new content");
  EXPECT_EQ(fresh->commit().size, 1u);
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"w/fresh", "w/obj"}));
  // Done: a second commit or write is refused.
  EXPECT_THROW(w->commit(), std::runtime_error);
  EXPECT_THROW(w->write("x", 1), std::runtime_error);
}

TEST_P(ObjectStoreContract, AWriterDestroyedWithoutCommitLeavesNothing) {
  put("keep", "old");
  {
    auto w = store->writer(P("keep"), {});
    w->write("replacement", 11);
  }
  {
    auto w = store->writer(P("new/deep/obj"), {});  // its folders did not exist
    w->write(std::string(100000, 'z').data(), 100000);
  }
  store->writer(P("never-written"), {});
  EXPECT_EQ(store->get_all(P("keep")), "old");
  EXPECT_FALSE(store->head(P("new/deep/obj")));
  EXPECT_FALSE(store->head(P("new/")));
  EXPECT_FALSE(store->head(P("never-written")));
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"keep"}));  // no folder marker either
}

TEST_P(ObjectStoreContract, WriterErrors) {
  EXPECT_API_ERROR(store->writer(ObsPath{"nobucket", "k"}, {}), 404, "ModelArts.0015");
  EXPECT_API_ERROR(store->writer(P("dir/"), {}), 400, "ModelArts.0101");  // a folder is no object
  EXPECT_API_ERROR(store->writer(P(""), {}), 400, "ModelArts.0101");
  EXPECT_API_ERROR(store->writer(P(std::string("a\0b", 3)), {}), 400, "ModelArts.0101");
  PutOptions big;
  big.metadata["big"] = std::string(3000, 'm');  // over 2 KiB
  EXPECT_API_ERROR(store->writer(P("k"), big), 400, "MetadataTooLarge");
  EXPECT_TRUE(store->list("bkt", "", "", "", 100).objects.empty());
}

TEST_P(ObjectStoreContract, AContentMd5MismatchIsBadDigestAndLeavesNothing) {
  put("k", "old");
  PutOptions o;
  o.expect_md5 = atelier::crypto::md5_hex("something else");
  for (const char* key : {"k", "new"}) {
    auto w = store->writer(P(key), o);
    w->write("hello", 5);
    EXPECT_API_ERROR(w->commit(), 400, "BadDigest");
    EXPECT_THROW(w->commit(), std::runtime_error);  // nothing left to commit
  }
  EXPECT_EQ(store->get_all(P("k")), "old");
  EXPECT_FALSE(store->head(P("new")));
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"k"}));
  // The right digest, in either case of hex, is accepted.
  o.expect_md5 = "5D41402ABC4B2A76B9719D911017C592";  // md5("hello")
  EXPECT_EQ(write_all(*store, P("new"), "hello", o).etag, "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(store->get_all(P("new")), "hello");
}

TEST_P(ObjectStoreContract, ContentTypeAndMetadataComeBackFromHeadAndReader) {
  PutOptions o;
  o.content_type = "image/jpeg";
  o.metadata = kMeta;
  ObjectInfo put_info = write_all(*store, P("img/cat.jpg"), "JFIF data", o);
  EXPECT_EQ(put_info.content_type, "image/jpeg");
  EXPECT_EQ(put_info.metadata, kMeta);
  auto h = store->head(P("img/cat.jpg"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->etag, atelier::crypto::md5_hex("JFIF data"));
  EXPECT_EQ(h->content_type, "image/jpeg");
  EXPECT_EQ(h->metadata, kMeta);
  EXPECT_EQ(h->size, 9u);
  auto r = store->get(P("img/cat.jpg"));
  ASSERT_TRUE(r);
  ObjectInfo ri = r->info();
  EXPECT_EQ(ri.key, "img/cat.jpg");
  EXPECT_EQ(ri.size, 9u);
  EXPECT_EQ(ri.mtime_ms, h->mtime_ms);
  EXPECT_EQ(ri.etag, h->etag);
  EXPECT_EQ(ri.content_type, "image/jpeg");
  EXPECT_EQ(ri.metadata, kMeta);
  // The reader keeps the version it opened; a put replaces content and metadata.
  put("img/cat.jpg", "plain");
  EXPECT_EQ(r->info().content_type, "image/jpeg");
  h = store->head(P("img/cat.jpg"));
  EXPECT_EQ(h->etag, atelier::crypto::md5_hex("plain"));
  EXPECT_EQ(h->content_type, "");
  EXPECT_TRUE(h->metadata.empty());
}

TEST_P(ObjectStoreContract, ListGivesEtags) {
  put("a", "alpha");
  write_all(*store, P("d/b"), "beta", PutOptions{"text/plain", kMeta, ""});
  store->put(P("m/"), "");
  auto r = store->list("bkt", "", "", "", 100);
  ASSERT_EQ(keys(r), V({"a", "d/b", "m/"}));
  EXPECT_EQ(r.objects[0].etag, atelier::crypto::md5_hex("alpha"));
  EXPECT_EQ(r.objects[1].etag, atelier::crypto::md5_hex("beta"));
  EXPECT_EQ(r.objects[1].size, 4u);
  EXPECT_EQ(r.objects[2].etag, atelier::crypto::md5_hex(""));  // a folder marker
}

TEST_P(ObjectStoreContract, ReaderSeeks) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(char('a' + i % 26));
  put("big", data);
  auto r = store->get(P("big"));
  ASSERT_TRUE(r);
  auto rest = [&] {
    std::string out;
    char buf[8192];
    while (size_t n = r->read(buf, sizeof buf)) out.append(buf, n);
    return out;
  };
  r->seek(99990);
  EXPECT_EQ(rest(), data.substr(99990));
  r->seek(0);
  EXPECT_EQ(rest(), data);
  r->seek(12345);
  char four[4];
  ASSERT_EQ(r->read(four, 4), 4u);
  EXPECT_EQ(std::string(four, 4), data.substr(12345, 4));
  r->seek(data.size());
  EXPECT_EQ(rest(), "");
  EXPECT_ANY_THROW(r->seek(data.size() + 1));
}

TEST_P(ObjectStoreContract, CopyKeepsOrReplacesMetadata) {
  std::string data(300000, 'c');
  data += "tail";
  PutOptions o{"application/x-model", kMeta, ""};
  ObjectInfo src = write_all(*store, P("src/model.bin"), data, o, 65536);
  // Kept: the source's content type and metadata.
  auto kept = store->copy(P("src/model.bin"), P("dst/kept.bin"), std::nullopt);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->key, "dst/kept.bin");
  EXPECT_EQ(kept->size, data.size());
  EXPECT_EQ(kept->etag, src.etag);
  EXPECT_EQ(kept->content_type, "application/x-model");
  EXPECT_EQ(kept->metadata, kMeta);
  EXPECT_EQ(store->get_all(P("dst/kept.bin")), data);
  auto h = store->head(P("dst/kept.bin"));
  EXPECT_EQ(h->etag, src.etag);
  EXPECT_EQ(h->content_type, "application/x-model");
  EXPECT_EQ(h->metadata, kMeta);
  // Replaced.
  PutOptions repl{"text/plain", {{"new", "1"}}, ""};
  auto replaced = store->copy(P("src/model.bin"), P("dst/replaced.bin"), repl);
  ASSERT_TRUE(replaced);
  h = store->head(P("dst/replaced.bin"));
  EXPECT_EQ(h->etag, src.etag);
  EXPECT_EQ(h->content_type, "text/plain");
  EXPECT_EQ(h->metadata, repl.metadata);
  EXPECT_EQ(store->get_all(P("dst/replaced.bin")), data);
  // Onto itself with new metadata: the way metadata is updated.
  auto self = store->copy(P("src/model.bin"), P("src/model.bin"), PutOptions{"", {{"v", "2"}}, ""});
  ASSERT_TRUE(self);
  h = store->head(P("src/model.bin"));
  EXPECT_EQ(h->etag, src.etag);
  EXPECT_EQ(h->content_type, "");
  EXPECT_EQ(h->metadata, (std::map<std::string, std::string>{{"v", "2"}}));
  EXPECT_EQ(store->get_all(P("src/model.bin")), data);
  // Nothing to copy.
  put("empty", "");
  EXPECT_FALSE(store->copy(P("missing"), P("dst/x"), std::nullopt));
  EXPECT_FALSE(store->copy(P("src/"), P("dst/x"), std::nullopt));  // a folder
  EXPECT_FALSE(store->copy(ObsPath{"nobucket", "k"}, P("dst/x"), std::nullopt));
  EXPECT_FALSE(store->head(P("dst/x")));
  EXPECT_API_ERROR(store->copy(P("empty"), P("dst/"), std::nullopt), 400, "ModelArts.0101");
  EXPECT_API_ERROR(store->copy(P("empty"), ObsPath{"nobucket", "k"}, std::nullopt), 404, "ModelArts.0015");
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)),
            V({"dst/kept.bin", "dst/replaced.bin", "empty", "src/model.bin"}));
}

TEST_P(ObjectStoreContract, ACopyReplacesAnExistingObject) {
  write_all(*store, P("dst/kept.bin"), "older content", PutOptions{"text/plain", kMeta, ""});
  put("empty", "");
  ASSERT_TRUE(store->copy(P("empty"), P("dst/kept.bin"), std::nullopt));
  EXPECT_EQ(store->get_all(P("dst/kept.bin")), "");
  auto h = store->head(P("dst/kept.bin"));
  EXPECT_EQ(h->etag, atelier::crypto::md5_hex(""));
  EXPECT_EQ(h->content_type, "");
  EXPECT_TRUE(h->metadata.empty());
}

// ObjectStore::copy's own implementation, through get() and writer(), for
// backends that have no copy of their own: it must agree with the backend's.
TEST_P(ObjectStoreContract, TheGenericCopyAgrees) {
  std::string data(200000, 'g');
  ObjectInfo src = write_all(*store, P("src"), data, PutOptions{"text/csv", kMeta, ""}, 65536);
  auto kept = store->ObjectStore::copy(P("src"), P("kept"), std::nullopt);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->etag, src.etag);
  EXPECT_EQ(kept->content_type, "text/csv");
  EXPECT_EQ(kept->metadata, kMeta);
  EXPECT_EQ(store->get_all(P("kept")), data);
  auto self = store->ObjectStore::copy(P("src"), P("src"), PutOptions{"text/plain", {}, ""});
  ASSERT_TRUE(self);
  auto h = store->head(P("src"));
  EXPECT_EQ(h->etag, src.etag);
  EXPECT_EQ(h->content_type, "text/plain");
  EXPECT_TRUE(h->metadata.empty());
  EXPECT_EQ(store->get_all(P("src")), data);
  EXPECT_FALSE(store->ObjectStore::copy(P("missing"), P("x"), std::nullopt));
  EXPECT_FALSE(store->head(P("x")));
}

// ============================================================ the local folder only

TEST_F(LocalStore, ABucketIsAFolderUnderTheRoot) {
  EXPECT_TRUE(fs::is_directory(fs::path(root) / "bkt"));
  EXPECT_TRUE(fs::is_directory(fs::path(root) / ".tmp"));  // partial uploads, never a bucket
  EXPECT_EQ(store->buckets(), V({"bkt"}));
}

// The ETag, content type and metadata are attributes of the object's file
// (user.atelier.*), so a file written past the store has none: its ETag is
// unknown until a copy reads it.
TEST_F(LocalStore, AFileWrittenPastTheStoreHasNoEtag) {
  put("stored.txt", "hello");
  char etag[64] = {};
  ASSERT_EQ(::getxattr((fs::path(root) / "bkt" / "stored.txt").c_str(), "user.atelier.etag", etag, sizeof etag), 32);
  EXPECT_STREQ(etag, "5d41402abc4b2a76b9719d911017c592");
  std::ofstream(fs::path(root) / "bkt" / "by-hand.txt") << "hello";
  EXPECT_EQ(store->head(P("by-hand.txt"))->etag, "");
  EXPECT_EQ(store->get(P("by-hand.txt"))->info().etag, "");
  auto r = store->list("bkt", "", "", "", 100);
  ASSERT_EQ(keys(r), V({"by-hand.txt", "stored.txt"}));
  EXPECT_EQ(r.objects[0].etag, "");
  EXPECT_EQ(r.objects[1].etag, "5d41402abc4b2a76b9719d911017c592");
  auto c = store->copy(P("by-hand.txt"), P("copied.txt"), std::nullopt);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->etag, "5d41402abc4b2a76b9719d911017c592");
  EXPECT_EQ(store->head(P("copied.txt"))->etag, "5d41402abc4b2a76b9719d911017c592");
}

// Uploads given up (destroyed writers, wrong digests, failed sources) leave
// no file in the bucket's folder nor in .tmp, and no folder made for them.
TEST_F(LocalStore, UploadsGivenUpLeaveNoFiles) {
  put("keep", "old");
  {
    auto w = store->writer(P("a/b/c/obj"), {});
    w->write("partial", 7);
  }
  {
    auto w = store->writer(P("keep"), {});
    w->write("partial", 7);
  }
  PutOptions o;
  o.expect_md5 = atelier::crypto::md5_hex("other");
  auto w = store->writer(P("new/x"), o);
  w->write("data", 4);
  EXPECT_API_ERROR(w->commit(), 400, "BadDigest");
  EXPECT_THROW(store->put(P("d/k"), [](char*, size_t) -> size_t { throw std::runtime_error("client went away"); }),
               std::runtime_error);
  std::vector<std::string> left;
  for (auto& e : fs::recursive_directory_iterator(root)) left.push_back(fs::relative(e.path(), root).string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, V({".tmp", "bkt", "bkt/keep"}));
  EXPECT_EQ(store->get_all(P("keep")), "old");
}

// A folder emptied by a removal goes (S3 has no folders), also while an
// upload into it is under way: the upload makes it again when it commits.
TEST_F(LocalStore, AFolderRemovedWhileAnUploadIsUnderWayIsMadeAgain) {
  put("d/other", "x");
  auto w = store->writer(P("d/obj"), {});
  w->write("content", 7);
  EXPECT_TRUE(store->remove(P("d/other")));
  ASSERT_FALSE(fs::exists(fs::path(root) / "bkt" / "d"));
  EXPECT_EQ(w->commit().size, 7u);
  EXPECT_EQ(store->get_all(P("d/obj")), "content");
}

// A full disk: the write that meets it throws a 503, and the partial file
// goes at once. Proven on a tmpfs of 1 MiB (mounting takes CAP_SYS_ADMIN).
TEST(LocalStoreOnAFullDisk, Is503AndLeavesNothing) {
  TempDir mnt;
  if (::mount("tmpfs", mnt.str().c_str(), "tmpfs", 0, "size=1m") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here: " << std::strerror(errno);
  struct Unmount {
    std::string at;
    ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
  } unmount{mnt.str()};
  auto store = open_local_store(mnt.file("data"));
  store->create_bucket("bkt");
  auto P = [](const std::string& key) { return ObsPath{"bkt", key}; };
  store->put(P("keep"), "kept");
  const std::string mib(1 << 20, 'f');
  auto w = store->writer(P("dir/big"), {});
  auto e = api_error([&] {
    w->write(mib.data(), mib.size());
    w->write(mib.data(), mib.size());
  });
  ASSERT_TRUE(e) << "2 MiB written to a 1 MiB disk";
  EXPECT_EQ(e->status(), 503);
  EXPECT_EQ(e->code(), "InsufficientStorage");
  EXPECT_NE(std::string(e->what()).find("no space left"), std::string::npos) << e->what();
  EXPECT_THROW(w->commit(), std::runtime_error);  // given up: nothing to commit
  EXPECT_API_ERROR(store->put(P("big"), mib + mib), 503, "InsufficientStorage");
  const std::string most(600 << 10, 'h');  // fits once, not twice
  store->put(P("most"), most);
  EXPECT_API_ERROR(store->copy(P("most"), P("most-copy"), std::nullopt), 503, "InsufficientStorage");
  // Nothing left of the failures: no object, no file, no folder; and their
  // space is back (the writer still exists, its file is gone).
  std::vector<std::string> listed;
  for (auto& o : store->list("bkt", "", "", "", 100).objects) listed.push_back(o.key);
  EXPECT_EQ(listed, V({"keep", "most"}));
  std::vector<std::string> left;
  for (auto& f : fs::recursive_directory_iterator(mnt.path() / "data")) left.push_back(fs::relative(f.path(), mnt.path() / "data").string());
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, V({".tmp", "bkt", "bkt/keep", "bkt/most"}));
  EXPECT_TRUE(store->remove(P("most")));
  EXPECT_EQ(store->put(P("again"), std::string(900 << 10, 'a')).size, 900u << 10);
  w.reset();
  store.reset();
}

// Folders exist only for objects (S3 has no real folders): the folders a
// removal empties go with it, the bucket's folder stays.
TEST_F(LocalStore, RemovalRemovesTheFoldersItEmptied) {
  put("dir/sub/hello.txt", "hello");
  put("keep/x");
  EXPECT_TRUE(store->remove(P("dir/sub/hello.txt")));
  EXPECT_FALSE(fs::exists(fs::path(root) / "bkt" / "dir"));
  EXPECT_TRUE(fs::exists(fs::path(root) / "bkt" / "keep"));
  EXPECT_TRUE(store->remove(P("keep/x")));
  EXPECT_TRUE(fs::exists(fs::path(root) / "bkt"));
}

// Folders are folders here: a folder lists as a marker only while it is
// empty, and goes with the removal that empties it, marker or not (an S3
// service keeps a marker as an object of its own: s3_store_test.cc).
TEST_F(LocalStore, AFolderIsAMarkerOnlyWhileEmpty) {
  store->put(P("models/"), "");
  put("models/m1", "w");
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"models/m1"}));
  EXPECT_TRUE(store->head(P("models/")));
  EXPECT_TRUE(store->remove(P("models/m1")));
  EXPECT_TRUE(store->list("bkt", "", "", "", 100).objects.empty());
  EXPECT_FALSE(store->head(P("models/")));
}

TEST_F(LocalStore, FailedUploadLeavesNoTempFiles) {
  put("k", "old");
  EXPECT_THROW(store->put(P("k"), [](char*, size_t) -> size_t { throw std::runtime_error("client went away"); }),
               std::runtime_error);
  EXPECT_TRUE(fs::is_empty(fs::path(root) / ".tmp"));
}

// A file and a folder of one name cannot both exist on a file system, so
// "file" and "file/child" (two keys S3 keeps apart) conflict: 409.
TEST_F(LocalStore, AnObjectAndAFolderOfOneNameConflict) {
  put("file", "x");
  auto e = api_error([&] { store->put(P("file/child"), "x"); });  // parent is an object
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status(), 409);
  put("folder/inner", "x");
  e = api_error([&] { store->put(P("folder"), "x"); });  // would replace a folder
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status(), 409);
  EXPECT_EQ(store->get_all(P("folder/inner")), "x");
}

TEST_F(LocalStore, FolderMarkerUnderAnObjectIsAConflict) {
  put("file", "abc");
  for (const char* k : {"file/", "file/sub/"}) {
    try {
      store->put(P(k), "");
      ADD_FAILURE() << k << ": accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status(), 409) << k << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << k << ": non-API exception (would be a 500): " << e.what();
    }
  }
  EXPECT_EQ(store->get_all(P("file")), "abc");
}

// A folder marker is the folder itself here: it is not removed while
// something is in it.
TEST_F(LocalStore, AFolderMarkerIsNotRemovedWhileTheFolderHoldsObjects) {
  store->put(P("models/"), "");
  put("models/m1", "w");
  EXPECT_FALSE(store->remove(P("models/")));
  EXPECT_TRUE(store->get_all(P("models/m1")).has_value());
  EXPECT_TRUE(fs::is_directory(fs::path(root) / "bkt" / "models"));
}

TEST_F(LocalStore, ListSkipsTempAndForeignFiles) {
  put("real");
  // A stray temporary file of an interrupted upload never shows.
  std::ofstream(fs::path(root) / ".tmp" / "partial") << "junk";
  // Neither does anything that is not a regular file or folder.
  ASSERT_EQ(mkfifo((fs::path(root) / "bkt" / "fifo").c_str(), 0600), 0);
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"real"}));
}

class LocalStoreSymlinks : public LocalStore {
 protected:
  TempDir outside;
  void SetUp() override {
    LocalStore::SetUp();
    std::ofstream(outside.path() / "secret.txt") << "top secret";
    fs::create_directory_symlink(outside.path(), fs::path(root) / "bkt" / "link");
    fs::create_symlink(outside.path() / "secret.txt", fs::path(root) / "bkt" / "file-link");
  }
};

TEST_F(LocalStoreSymlinks, GetThroughSymlinkRejected) {
  for (const char* k : {"link/secret.txt", "file-link"}) {
    std::unique_ptr<ObjectReader> r;
    auto e = api_error([&] { r = store->get(P(k)); });
    EXPECT_TRUE(e.has_value() || r == nullptr) << k << " was readable through a symlink";
    std::optional<std::string> data;
    api_error([&] { data = store->get_all(P(k)); });
    EXPECT_FALSE(data.has_value()) << k;
  }
}

TEST_F(LocalStoreSymlinks, PutThroughSymlinkThrows) {
  auto e = api_error([&] { store->put(P("link/new.txt"), "pwned"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status(), 400);
  EXPECT_FALSE(fs::exists(outside.path() / "new.txt"));
  e = api_error([&] { store->put(P("link/secret.txt"), "pwned"); });
  ASSERT_TRUE(e);
  e = api_error([&] { store->put(P("file-link"), "pwned"); });
  ASSERT_TRUE(e);
  std::ifstream in(outside.path() / "secret.txt");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "top secret");
  e = api_error([&] { store->put(P("link/sub/"), ""); });  // folder marker through the link
  ASSERT_TRUE(e);
  EXPECT_FALSE(fs::exists(outside.path() / "sub"));
}

TEST_F(LocalStoreSymlinks, HeadRemoveAndListDoNotFollow) {
  std::optional<ObjectInfo> h;
  api_error([&] { h = store->head(P("link/secret.txt")); });
  EXPECT_FALSE(h.has_value());
  bool removed = false;
  api_error([&] { removed = store->remove(P("link/secret.txt")); });
  EXPECT_FALSE(removed);
  EXPECT_TRUE(fs::exists(outside.path() / "secret.txt"));
  put("plain");
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"plain"}));
}

TEST_F(LocalStoreSymlinks, ListWithPrefixThroughSymlinkDoesNotLeakOutsideFiles) {
  // A prefix naming the symlinked folder must not list what lies outside the bucket.
  ListResult r;
  api_error([&] { r = store->list("bkt", "link/", "", "", 100); });
  EXPECT_EQ(keys(r), V{});
  api_error([&] { r = store->list("bkt", "link/sec", "/", "", 100); });
  EXPECT_EQ(keys(r), V{});
}

TEST_F(LocalStoreSymlinks, ScannerDoesNotFollowSymlinks) {
  auto scan = store->scanner();
  for (const char* k : {"link/secret.txt", "file-link"}) {
    std::optional<std::string> data;
    std::optional<ObjectInfo> h;
    api_error([&] { data = scan->get_all(P(k)); });
    api_error([&] { h = scan->head(P(k)); });
    EXPECT_FALSE(data.has_value()) << k;
    EXPECT_FALSE(h.has_value()) << k;
  }
}

TEST_F(LocalStore, LargeFolderPagesStayExactWhileItChanges) {
  fs::path dir = fs::path(root) / "bkt" / "big";
  fs::create_directories(dir);
  std::vector<std::string> want;
  for (int i = 0; i < 1500; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%05d", i);
    std::ofstream(dir / name) << "x";
    want.push_back(std::string("big/") + name);
  }
  // Listings are kept only for folders unchanged for over a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(all_pages("big/", 1000), want);
  EXPECT_EQ(all_pages("big/", 7), want);
  // A file written past the store with the folder's mtime set back (touch -r,
  // rsync -t): the change time still moves, and the file shows.
  struct stat before;
  ASSERT_EQ(stat(dir.c_str(), &before), 0);
  std::ofstream(dir / "01499b") << "y";
  struct timespec t[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, dir.c_str(), t, 0), 0);
  want.push_back("big/01499b");
  EXPECT_EQ(all_pages("big/", 500), want);
  // Files added and removed through the store show at once.
  put("big/00000a");
  EXPECT_TRUE(store->remove(P("big/00010")));
  want.insert(want.begin() + 1, "big/00000a");
  want.erase(std::find(want.begin(), want.end(), "big/00010"));
  EXPECT_EQ(all_pages("big/", 500), want);
}

TEST_F(LocalStore, ScannerReadsOnlyRegularFiles) {
  put("dir/inner", "x");
  put("empty", "");
  put("big", std::string(40000, 'b'));  // past the first read
  ASSERT_EQ(mkfifo((fs::path(root) / "bkt" / "fifo").c_str(), 0600), 0);
  auto scan = store->scanner();
  EXPECT_EQ(scan->get_all(P("fifo")), std::nullopt);  // and does not hang
  EXPECT_EQ(scan->get_all(P("dir")), std::nullopt);
  EXPECT_EQ(scan->get_all(P("empty")), std::string());
  EXPECT_EQ(scan->get_all(P("big")), std::string(40000, 'b'));
  EXPECT_EQ(scan->get_all(P("dir/inner")), "x");
}

namespace {
// Writes `data` a page at a time, so that the page cache holds it in pages
// that can be dropped one by one (one large write may make large folios).
void write_by_pages(const fs::path& f, const std::string& data) {
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  for (size_t at = 0; at < data.size(); at += page)
    ASSERT_GT(::pwrite(fd, data.data() + at, std::min(page, data.size() - at), off_t(at)), 0);
  ::fsync(fd);
  ::close(fd);
}

// Drops the file's pages from byte `from` on out of the page cache (clean
// pages go at once).
void page_out(const fs::path& f, off_t from = 0) {
  int fd = ::open(f.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::posix_fadvise(fd, from, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// Whether the file's page `index` is in the page cache (mincore reads
// without bringing anything in).
bool in_memory(const fs::path& f, size_t index) {
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  int fd = ::open(f.c_str(), O_RDONLY);
  if (fd < 0) return false;
  void* m = ::mmap(nullptr, (index + 1) * page, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return false;
  std::vector<unsigned char> v(index + 1);
  bool in = ::mincore(m, (index + 1) * page, v.data()) == 0 && (v[index] & 1);
  ::munmap(m, (index + 1) * page);
  return in;
}
}  // namespace

TEST_F(LocalStore, ScannerReadsAtHandWithoutWaitingForTheDisk) {
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  const std::string small = "<annotation/>", pages(2 * page, 'p'), big(10 * page - 7, 'b');
  fs::path dir = fs::path(root) / "bkt";
  put("dir/inner", "x");
  write_by_pages(dir / "small.xml", small);
  write_by_pages(dir / "pages.xml", pages);  // whole pages: a read without waiting cannot tell the end
  write_by_pages(dir / "big.xml", big);
  put("empty", "");
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto scan = store->scanner();
  // In memory (just written): read whole, nothing pending.
  for (auto& [key, want] : std::vector<std::pair<std::string, std::optional<std::string>>>{
           {"small.xml", small}, {"pages.xml", pages}, {"big.xml", big}, {"empty", ""}, {"fifo", std::nullopt},
           {"dir", std::nullopt}, {"missing", std::nullopt}, {"dir/inner", "x"}}) {
    bool pending = true;
    EXPECT_EQ(scan->get_all_at_hand(P(key), pending), want) << key;
    EXPECT_FALSE(pending) << key;
  }
  page_out(dir / "small.xml");
  if (in_memory(dir / "small.xml", 0)) GTEST_SKIP() << "this file system keeps files in memory";
  // Paged out: not waited for but on its way, and get_all then has it.
  bool pending = false;
  EXPECT_EQ(scan->get_all_at_hand(P("small.xml"), pending), std::nullopt);
  EXPECT_TRUE(pending);
  EXPECT_EQ(scan->get_all(P("small.xml")), small);
  // Only the first page in memory: the rest is read, not taken for the end.
  page_out(dir / "big.xml", off_t(page));
  ASSERT_TRUE(in_memory(dir / "big.xml", 0));
  ASSERT_FALSE(in_memory(dir / "big.xml", 1));
  pending = true;
  EXPECT_EQ(scan->get_all_at_hand(P("big.xml"), pending), big);
  EXPECT_FALSE(pending);
}

// A file system that cannot read without waiting (tmpfs here refuses
// RWF_NOWAIT) keeps everything in memory: get_all_at_hand just reads there,
// call after call.
TEST(LocalStoreOnTmpfs, ScannerReadsAtHandWhereReadingCannotBeWithoutWaiting) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  TempDir shm("/dev/shm");
  auto store = open_local_store(shm.file("data"));
  store->create_bucket("bkt");
  ASSERT_EQ(mkfifo((shm.path() / "data" / "bkt" / "fifo").c_str(), 0600), 0);
  for (int i = 0; i < 3; ++i) store->put(ObsPath{"bkt", "f" + std::to_string(i)}, "content " + std::to_string(i));
  auto scan = store->scanner();
  for (int round = 0; round < 2; ++round) {
    bool pending = true;
    EXPECT_EQ(scan->get_all_at_hand(ObsPath{"bkt", "fifo"}, pending), std::nullopt);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(scan->get_all_at_hand(ObsPath{"bkt", "f" + std::to_string(i)}, pending), "content " + std::to_string(i));
      EXPECT_FALSE(pending);
    }
  }
}

TEST_F(LocalStore, ScannerRefusesHugeObjects) {
  fs::path f = fs::path(root) / "bkt" / "huge.xml";
  { std::ofstream(f) << "x"; }
  fs::resize_file(f, Scanner::kMaxScanned + 1);  // sparse: no disk used
  auto scan = store->scanner();
  EXPECT_API_ERROR(scan->get_all(P("huge.xml")), 400, "ModelArts.0101");
  EXPECT_TRUE(scan->head(P("huge.xml")));  // only reading it whole is refused
  fs::resize_file(f, Scanner::kMaxScanned);
  EXPECT_EQ(scan->get_all(P("huge.xml"))->size(), Scanner::kMaxScanned);
}

// Keys are opaque strings, as S3 clients use them: dots, empty segments, a
// leading slash, the local store's own escape and any byte but NUL are
// stored, read, listed and removed exactly, in byte order.
TEST_P(ObjectStoreContract, AnyS3KeyRoundTrips) {
  // (An object and a folder of one name, as ".." and "../up", cannot both
  // be held by the local store: see LocalStore.AnObjectAndAFolderOfOneNameConflict.)
  const std::vector<std::string> names = {"../up", "a/../b", "a/./b", "a//b", "/lead", "~~x", "x/~~", ".",
                                          "..x",   "dir/.",  "sp ace%25+&=ü/数据", "trail//",
                                          std::string(200, 'k') + "/z"};
  for (auto& k : names) {
    if (k.back() == '/') continue;
    ObjectInfo info = store->put(P(k), "v:" + k);
    EXPECT_EQ(info.key, k);
    EXPECT_EQ(store->get_all(P(k)), "v:" + k) << k;
    auto h = store->head(P(k));
    ASSERT_TRUE(h) << k;
    EXPECT_EQ(h->key, k);
    EXPECT_EQ(h->size, k.size() + 2);
  }
  std::vector<std::string> want;
  for (auto& k : names)
    if (k.back() != '/') want.push_back(k);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 1000)), want);
  // Paging and prefixes work on the keys, whatever their form on disk.
  std::vector<std::string> paged;
  for (std::string marker;;) {
    auto page = store->list("bkt", "", "", marker, 3);
    for (auto& o : page.objects) paged.push_back(o.key);
    if (!page.truncated) break;
    marker = page.next_marker;
  }
  EXPECT_EQ(paged, want);
  EXPECT_EQ(keys(store->list("bkt", "a/../", "", "", 100)), V({"a/../b"}));
  EXPECT_EQ(store->list("bkt", "a/", "/", "", 100).common_prefixes, V({"a/../", "a/./", "a//"}));
  auto scan = store->scanner();
  EXPECT_EQ(scan->get_all(P("a//b")), "v:a//b");
  EXPECT_TRUE(scan->head(P("../up")));
  EXPECT_FALSE(scan->head(P("../none")));
  for (auto& k : want) EXPECT_TRUE(store->remove(P(k))) << k;
  EXPECT_TRUE(store->list("bkt", "", "", "", 1000).objects.empty());
}

TEST_P(ObjectStoreContract, KeysOverTheLimitAreRefused) {
  EXPECT_ANY_THROW(store->put(P(std::string(1025, 'k')), "x"));
  EXPECT_ANY_THROW(store->put(P(std::string("a\0b", 3)), "x"));
}

// On disk every key stays inside its bucket's folder, whatever dots it has.
TEST_F(LocalStore, EscapedKeysStayInsideTheBucket) {
  store->put(P("../../outside"), "x");
  store->put(P("a/../../b"), "y");
  EXPECT_FALSE(fs::exists(fs::path(root) / "outside"));
  EXPECT_FALSE(fs::exists(fs::path(root).parent_path() / "outside"));
  EXPECT_TRUE(fs::exists(fs::path(root) / "bkt" / "~~.." / "~~.." / "outside"));
  EXPECT_TRUE(fs::exists(fs::path(root) / "bkt" / "a" / "~~.." / "~~.." / "b"));
  // A segment no file name can hold is refused, not cut.
  EXPECT_API_ERROR(store->put(P(std::string(300, 's')), "x"), 400, "KeyTooLongError");
}
