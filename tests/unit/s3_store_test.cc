// What only the S3 backend of the object store (obs/s3_store.h) has, beyond
// the contract obs_test.cc runs on every backend: its URL, objects in parts,
// readers by ranges, failures of the service it talks to, and what it sends
// (s3_client.h). Run against Atelier's own object endpoint and s3rver
// (s3_peer.h), real servers both.
#include "obs/s3_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/crypto.h"
#include "obs/s3_client.h"
#include "s3_peer.h"
#include "test_util.h"

using namespace atelier::obs;
using atelier::ApiError;
using atelier::testing::api_error;
using atelier::testing::S3Peer;

namespace {

using V = std::vector<std::string>;

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 131 + i / 4096) & 0xff);
  return s;
}

std::string read_rest(ObjectReader& r) {
  std::string out;
  char buf[100000];
  while (size_t n = r.read(buf, sizeof buf)) out.append(buf, n);
  return out;
}

std::vector<std::string> keys(const ListResult& r) {
  std::vector<std::string> out;
  for (auto& o : r.objects) out.push_back(o.key);
  return out;
}

// A fresh store on each peer (by name), with the bucket "bkt".
class S3Backend : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<ObjectStore> store;
  const S3Peer* peer = nullptr;
  void SetUp() override {
    peer = GetParam() == "atelier" ? &atelier::testing::atelier_peer() : &atelier::testing::s3rver_peer();
    if (!peer->skip.empty()) GTEST_SKIP() << peer->skip;
    atelier::testing::empty_peer(*peer);
    store = open_s3_store(peer->endpoint);
    store->create_bucket("bkt");
  }
  ObsPath P(const std::string& key) { return ObsPath{"bkt", key}; }
  // The unfinished multipart uploads of "bkt", where the peer keeps a list of them.
  std::optional<size_t> uploads() {
    S3Client client(peer->endpoint);
    S3Answer a = client.send({"GET", "bkt", "", {{"uploads", ""}}});
    if (a.status != 200) return std::nullopt;
    size_t n = 0;
    for (size_t at = 0; (at = a.body.find("<Upload>", at)) != std::string::npos; ++at) ++n;
    return n;
  }
};

INSTANTIATE_TEST_SUITE_P(Peers, S3Backend, ::testing::Values("atelier", "s3rver"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace

// ------------------------------------------------------------ the URL

TEST(S3StoreUrl, HostAndPortAndTls) {
  RemoteSettings plain, tls;
  tls.tls = true;
  S3Endpoint e = parse_s3_url("s3://127.0.0.1:9000", plain);
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 9000);
  EXPECT_FALSE(e.settings.tls);
  EXPECT_EQ(parse_s3_url("s3://minio.internal/", plain).port, 80);
  EXPECT_EQ(parse_s3_url("s3://minio.internal", tls).port, 443);
  EXPECT_TRUE(parse_s3_url("s3://minio.internal", tls).settings.tls);
  e = parse_s3_url("s3://[::1]:9000", plain);
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 9000);
  for (const char* bad : {"s3://", "s3://:9000", "s3://host:", "s3://host:0", "s3://host:65536", "s3://host:9x",
                          "s3://host:9000/bucket", "s3://user@host:9000", "s3://[::1", "s3://[::1]x", "http://host:9000"})
    EXPECT_THROW(parse_s3_url(bad, plain), std::runtime_error) << bad;
}

TEST(S3StoreUrl, OpenStoreNeedsAKey) {
  RemoteSettings none;
  try {
    open_store("s3://127.0.0.1:9", none);
    ADD_FAILURE() << "opened without a key";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("object_store_access_key"), std::string::npos) << e.what();
  }
  RemoteSettings key;
  key.access_key = "ak";
  key.secret_key = "sk";
  EXPECT_NE(open_store("s3://127.0.0.1:9", key), nullptr);  // nothing asked of the service yet
}

// ------------------------------------------------------------ failures of the service

// Nothing listens: every call is a 503 after its tries, naming the endpoint
// and never the secret.
TEST(S3StoreFailures, AnUnreachableServiceIs503AfterRetries) {
  S3Endpoint e;
  e.host = "127.0.0.1";
  e.port = 9;  // discard: nothing listens there
  e.settings.access_key = "AKIDNOTHERE";
  e.settings.secret_key = "the-secret-value-never-shown";
  e.attempts = 3;
  e.first_backoff_ms = 20;
  auto store = open_s3_store(e);
  auto started = std::chrono::steady_clock::now();
  auto err = api_error([&] { store->head(ObsPath{"bkt", "k"}); });
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status(), 503);
  EXPECT_EQ(err->code(), "ServiceUnavailable");
  std::string msg = err->what();
  EXPECT_NE(msg.find("http://127.0.0.1:9"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3 tries"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("the-secret-value-never-shown"), std::string::npos) << msg;
  EXPECT_GE(took, std::chrono::milliseconds(20));  // it waited between tries
  EXPECT_API_ERROR(store->put(ObsPath{"bkt", "k"}, "x"), 503, "ServiceUnavailable");
  EXPECT_API_ERROR(store->list("bkt", "", "", "", 10), 503, "ServiceUnavailable");
}

// A service that comes up while a call waits between its tries is reached:
// the call succeeds, late.
TEST(S3StoreFailures, AServiceThatComesUpDuringTheRetriesIsReached) {
  int port = atelier::testing::free_port();
  S3Endpoint e;
  e.host = "127.0.0.1";
  e.port = uint16_t(port);
  e.settings.access_key = e.settings.secret_key = "S3RVER";
  e.attempts = 8;
  e.first_backoff_ms = 200;  // tries over about 25 s in all
  auto store = open_s3_store(e);
  std::optional<ApiError> err;
  std::thread caller([&] { err = api_error([&] { store->create_bucket("late"); }); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  atelier::testing::OwnS3rver late(port);
  caller.join();
  if (!late.peer().skip.empty()) GTEST_SKIP() << late.peer().skip;
  EXPECT_FALSE(err) << err->what();
  EXPECT_TRUE(store->bucket_exists("late"));
}

// Atelier checks signatures: a wrong secret is refused, and the refusal is
// the operator's matter (503, pointing at the settings), not the caller's.
TEST(S3StoreFailures, AWrongSecretIsRefusedWithoutShowingIt) {
  S3Endpoint e = atelier::testing::atelier_peer().endpoint;
  e.settings.secret_key = "wrong-secret-value-never-shown";
  auto store = open_s3_store(e);
  auto err = api_error([&] { store->buckets(); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status(), 503);
  std::string msg = err->what();
  EXPECT_NE(msg.find("object_store_"), std::string::npos) << msg;
  EXPECT_NE(msg.find("SignatureDoesNotMatch"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("wrong-secret-value-never-shown"), std::string::npos) << msg;
}

// ------------------------------------------------------------ TLS

// object_store_tls: https, the certificate checked, against object_store_ca_file
// when set. A certificate nobody vouches for is refused at once (no retries:
// another try would meet it again).
TEST(S3StoreTls, TheCertificateIsChecked) {
  atelier::testing::TempDir dir;
  std::string key = dir.file("key.pem"), cert = dir.file("cert.pem");
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext "
                    "subjectAltName=IP:127.0.0.1 -keyout '" + key + "' -out '" + cert + "' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a certificate";
  atelier::testing::OwnS3rver tls(atelier::testing::free_port(), key, cert);
  if (!tls.peer().skip.empty()) GTEST_SKIP() << tls.peer().skip;
  S3Endpoint e = tls.peer().endpoint;
  ASSERT_TRUE(e.settings.tls);
  e.settings.ca_file = cert;
  auto store = open_s3_store(e);
  store->create_bucket("secure");
  store->put(ObsPath{"secure", "k"}, "over TLS");
  EXPECT_EQ(store->get_all(ObsPath{"secure", "k"}), "over TLS");

  e.settings.ca_file.clear();  // the system's CAs: this certificate is none of theirs
  auto untrusted = open_s3_store(e);
  auto started = std::chrono::steady_clock::now();
  auto err = api_error([&] { untrusted->head(ObsPath{"secure", "k"}); });
  ASSERT_TRUE(err);
  EXPECT_EQ(err->status(), 503);
  EXPECT_NE(std::string(err->what()).find("https://127.0.0.1:"), std::string::npos) << err->what();
  EXPECT_NE(std::string(err->what()).find("1 try"), std::string::npos) << err->what();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

// ------------------------------------------------------------ objects in parts, readers by ranges

// Past one part (8 MiB) a writer sends a multipart upload: the object is
// whole, its ETag the service's for parts, and reads and seeks across the
// ranges a reader fetches give its bytes.
TEST_P(S3Backend, ALargeObjectGoesInPartsAndReadsByRanges) {
  std::string data = pattern((size_t(8) << 20) * 2 + 12345);
  PutOptions o;
  o.content_type = "application/x-model";
  o.metadata = {{"epoch", "7"}};
  auto w = store->writer(P("big/model.bin"), o);
  for (size_t at = 0; at < data.size(); at += 1 << 20) w->write(data.data() + at, std::min<size_t>(1 << 20, data.size() - at));
  EXPECT_FALSE(store->head(P("big/model.bin")));  // not before commit
  ObjectInfo info = w->commit();
  EXPECT_EQ(info.size, data.size());
  if (peer->name == "atelier") {  // S3's ETag of three parts (s3rver gives the content's MD5)
    EXPECT_TRUE(info.etag.size() > 2 && info.etag.substr(info.etag.size() - 2) == "-3") << info.etag;
  }
  auto h = store->head(P("big/model.bin"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->size, data.size());
  EXPECT_EQ(h->etag, info.etag);
  EXPECT_EQ(h->content_type, "application/x-model");
  EXPECT_EQ(h->metadata, o.metadata);
  auto r = store->get(P("big/model.bin"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), data.size());
  EXPECT_EQ(r->info().etag, info.etag);
  EXPECT_EQ(read_rest(*r), data);
  for (uint64_t at : {uint64_t(0), uint64_t(1) << 20, (uint64_t(5) << 20) - 3, uint64_t(data.size() - 10)}) {
    r->seek(at);
    char buf[4096];
    size_t n = r->read(buf, sizeof buf);
    ASSERT_GT(n, 0u) << at;
    EXPECT_EQ(std::string(buf, n), data.substr(at, n)) << at;
  }
  auto c = store->copy(P("big/model.bin"), P("big/copy.bin"), std::nullopt);
  ASSERT_TRUE(c);
  EXPECT_EQ(store->get_all(P("big/copy.bin")), data);
  EXPECT_EQ(store->head(P("big/copy.bin"))->metadata, o.metadata);
}

// A writer destroyed after it sent parts aborts its upload: no object, and
// no upload left behind where the service lists them.
TEST_P(S3Backend, AWriterGivenUpAfterPartsAbortsItsUpload) {
  std::string part = pattern((size_t(8) << 20) + 1);
  {
    auto w = store->writer(P("partial"), {});
    w->write(part.data(), part.size());
    w->write(part.data(), part.size());
  }
  EXPECT_FALSE(store->head(P("partial")));
  EXPECT_TRUE(store->list("bkt", "", "", "", 100).objects.empty());
  if (auto n = uploads()) {
    EXPECT_EQ(*n, 0u);
  }
  // A wrong digest of a large object: refused at commit, nothing left either.
  PutOptions o;
  o.expect_md5 = atelier::crypto::md5_hex("something else");
  auto w = store->writer(P("digest"), o);
  w->write(part.data(), part.size());
  EXPECT_API_ERROR(w->commit(), 400, "BadDigest");
  EXPECT_FALSE(store->head(P("digest")));
  if (auto n = uploads()) {
    EXPECT_EQ(*n, 0u);
  }
}

// A reader reads one version: when the object is replaced between two of
// its ranges, it fails rather than mix the old start with the new rest.
TEST_P(S3Backend, AReaderFailsWhenItsObjectIsReplacedMidway) {
  std::string data = pattern(size_t(3) << 20);
  store->put(P("v"), data);
  auto r = store->get(P("v"));
  ASSERT_TRUE(r);
  char buf[1000];
  ASSERT_EQ(r->read(buf, sizeof buf), sizeof buf);  // from the first range
  store->put(P("v"), std::string(size_t(3) << 20, 'n'));
  r->seek(size_t(2) << 20);  // past the first range: fetched now
  EXPECT_THROW(r->read(buf, sizeof buf), std::runtime_error);
}

// ------------------------------------------------------------ folders, metadata, listings

// On an S3 service a folder marker is an object of its own: listed beside
// what is under it and kept when that goes. (Folders are the service's: an
// Atelier peer keeps its objects in its local store, whose folders are
// folders, shown as a marker only while empty: obs_test.cc.)
TEST_P(S3Backend, AFolderMarkerIsAnObjectBesideItsContent) {
  if (peer->name == "atelier") GTEST_SKIP() << "an Atelier peer's folders are its local store's";
  store->put(P("models/"), "");
  store->put(P("models/m1"), "w");
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"models/", "models/m1"}));
  EXPECT_TRUE(store->remove(P("models/m1")));
  EXPECT_EQ(keys(store->list("bkt", "", "", "", 100)), V({"models/"}));
  EXPECT_TRUE(store->head(P("models/")));
}

// What a service answers for content put without a type (binary/octet-stream)
// reads as no type; metadata that is no plain ASCII travels encoded
// (RFC 2047) and comes back as it was put.
TEST_P(S3Backend, TypesAndMetadataComeBackAsPut) {
  store->put(P("untyped"), "x");
  EXPECT_EQ(store->head(P("untyped"))->content_type, "");
  PutOptions o;
  o.content_type = "text/plain; charset=utf-8";
  o.metadata = {{"utf8", "\xe7\x8c\xab"}, {"spaces", "  both ends  "}, {"newline", "a\nb"},
                {"looks-encoded", "=?UTF-8?B?eA==?="}, {"plain", "x=1; y"}};
  auto w = store->writer(P("typed"), o);
  w->write("x", 1);
  w->commit();
  auto h = store->head(P("typed"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->content_type, o.content_type);
  EXPECT_EQ(h->metadata, o.metadata);
  EXPECT_EQ(store->get(P("typed"))->info().metadata, o.metadata);
  PutOptions bad;
  bad.metadata = {{"no spaces in names", "x"}};
  EXPECT_API_ERROR(store->writer(P("k"), bad), 400, "ModelArts.0101");
  bad.metadata.clear();
  bad.content_type = "text/plain\r\nX-Injected: 1";
  EXPECT_API_ERROR(store->writer(P("k"), bad), 400, "ModelArts.0101");
}

// The Scanner reads a whole object in one request, and refuses one larger
// than it may hold without reading it into memory.
TEST_P(S3Backend, TheScannerReadsWholeObjects) {
  store->put(P("s/a.xml"), "<annotation/>");
  auto scan = store->scanner();
  EXPECT_EQ(scan->get_all(P("s/a.xml")), "<annotation/>");
  EXPECT_FALSE(scan->get_all(P("s/missing")));
  EXPECT_FALSE(scan->get_all(P("s/")));
  EXPECT_FALSE(scan->get_all(ObsPath{"nobucket", "k"}));
}
