// Multipart uploads (obs/multipart.h) over the embedded object store, run
// once per metadata-store backend of kMultipartBackends (a new backend,
// PostgreSQL, is one more line there).
#include "obs/multipart.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "common/clock.h"
#include "common/crypto.h"
#include "test_util.h"

using namespace atelier::obs;
using atelier::testing::TempDir;
namespace fs = std::filesystem;
namespace store = atelier::store;
namespace crypto = atelier::crypto;
namespace clk = atelier::clock;

namespace {

struct MultipartBackend {
  std::string name;  // the test name's suffix
  // The URL of a fresh metadata store; `scratch` is a folder the test owns.
  std::function<std::string(const TempDir& scratch)> url;
};

void PrintTo(const MultipartBackend& b, std::ostream* os) { *os << b.name; }

const MultipartBackend kMultipartBackends[] = {
    {"sqlite", [](const TempDir& scratch) { return "sqlite://" + scratch.file("meta.db"); }},
    // {"postgresql", [](const TempDir&) { return pg_test_database("multipart"); }},
};

constexpr size_t kMiB = 1 << 20;

// `n` bytes that differ from every other call's (a part's content).
std::string blob(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = char(rng());
  return out;
}

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out.push_back(char(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// S3's etag of an object assembled from these parts, computed here from the contents.
std::string multipart_etag(const std::vector<std::string>& parts) {
  std::string md5s;
  for (auto& p : parts) md5s += unhex(crypto::md5_hex(p));
  return crypto::md5_hex(md5s) + "-" + std::to_string(parts.size());
}

class MultipartTest : public ::testing::TestWithParam<MultipartBackend> {
 protected:
  TempDir tmp;
  std::unique_ptr<store::Database> db = store::open_database(GetParam().url(tmp));
  std::unique_ptr<ObjectStore> objects = open_local_store(tmp.file("obs"));
  std::string spool = tmp.file("multipart");
  std::unique_ptr<Multipart> mp;
  ObsPath path{"bkt", "dir/object.bin"};

  void SetUp() override {
    db->migrate(Multipart::migrations());
    objects->create_bucket("bkt");
    mp = std::make_unique<Multipart>(*db, *objects, spool);
  }

  Multipart::Upload create(const ObsPath& p) { return mp->create(p, PutOptions{}, "user-1"); }

  // Sends `data` as part `n`, in pieces of `piece` bytes.
  Multipart::Part put_part(const Multipart::Upload& u, int n, const std::string& data, size_t piece = 64 << 10) {
    auto w = mp->part_writer(u, n);
    for (size_t off = 0; off < data.size(); off += piece) w->write(data.data() + off, std::min(piece, data.size() - off));
    return w->commit();
  }

  std::vector<std::string> spool_files() {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(spool)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::vector<Multipart::Part> all_parts(const Multipart::Upload& u) {
    bool truncated = false;
    return mp->parts(u, 0, 10000, truncated);
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, MultipartTest, ::testing::ValuesIn(kMultipartBackends),
                         [](const ::testing::TestParamInfo<MultipartBackend>& info) { return info.param.name; });

}  // namespace

// ------------------------------------------------------------ uploads

TEST_P(MultipartTest, CreateKeepsOptionsAndFindNeedsTheSameKey) {
  PutOptions o;
  o.content_type = "image/png";
  o.metadata = {{"owner", "ann"}, {"purpose", "training"}};
  auto u = mp->create(path, o, "user-1");
  EXPECT_FALSE(u.id.empty());
  auto f = mp->find(u.id, path);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->id, u.id);
  EXPECT_EQ(f->path.str(), path.str());
  EXPECT_EQ(f->options.content_type, "image/png");
  EXPECT_EQ(f->options.metadata, o.metadata);
  EXPECT_EQ(f->initiator, "user-1");
  EXPECT_EQ(f->initiated_ms, u.initiated_ms);
  EXPECT_FALSE(mp->find(u.id, ObsPath{"bkt", "dir/other.bin"}));
  EXPECT_FALSE(mp->find(u.id, ObsPath{"bkt2", path.key}));
  EXPECT_FALSE(mp->find("no-such-id", path));
}

TEST_P(MultipartTest, CreateRefusesFoldersMissingBucketsAndBinaryMetadata) {
  EXPECT_API_ERROR(create(ObsPath{"bkt", "dir/"}), 400, "InvalidArgument");
  EXPECT_API_ERROR(create(ObsPath{"bkt", ""}), 400, "InvalidArgument");
  EXPECT_API_ERROR(create(ObsPath{"nobucket", "k"}), 404, "NoSuchBucket");
  PutOptions o;
  o.metadata = {{"m", "\xff\xfe"}};
  EXPECT_API_ERROR(mp->create(path, o, "u"), 400, "InvalidArgument");
}

TEST_P(MultipartTest, UploadsPageByKeyThenInitiation) {
  // Two uploads of b/x, initiated one after the other.
  std::vector<std::pair<std::string, std::string>> made;  // key, id
  for (std::string key : {"b/y", "b/x", "a", "b/x", "c", "b/z"}) {
    made.emplace_back(key, create(ObsPath{"bkt", key}).id);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  objects->create_bucket("other");
  create(ObsPath{"other", "b/x"});  // another bucket: never listed
  std::vector<std::pair<std::string, std::string>> want = {made[1], made[3], made[0], made[5]};

  bool truncated = false;
  auto all = mp->uploads("bkt", "b/", "", "", 1000, truncated);
  EXPECT_FALSE(truncated);
  std::vector<std::pair<std::string, std::string>> got;
  for (auto& u : all) got.emplace_back(u.path.key, u.id);
  EXPECT_EQ(got, want);

  // One at a time, each page continuing after the last upload's key and id.
  got.clear();
  std::string key_marker, id_marker;
  for (int i = 0; i < 10; ++i) {
    auto page = mp->uploads("bkt", "b/", key_marker, id_marker, 1, truncated);
    ASSERT_LE(page.size(), 1u);
    for (auto& u : page) got.emplace_back(u.path.key, u.id);
    if (!truncated) break;
    key_marker = page.back().path.key;
    id_marker = page.back().id;
  }
  EXPECT_EQ(got, want);

  // A key marker alone skips every upload of that key.
  auto after_x = mp->uploads("bkt", "", "b/x", "", 1000, truncated);
  ASSERT_EQ(after_x.size(), 3u);
  EXPECT_EQ(after_x[0].path.key, "b/y");
  EXPECT_EQ(after_x[2].path.key, "c");
  // Without a prefix, everything of the bucket in key order.
  auto everything = mp->uploads("bkt", "", "", "", 1000, truncated);
  ASSERT_EQ(everything.size(), 6u);
  EXPECT_EQ(everything.front().path.key, "a");
  EXPECT_EQ(everything.back().path.key, "c");
  auto two = mp->uploads("bkt", "", "", "", 2, truncated);
  EXPECT_EQ(two.size(), 2u);
  EXPECT_TRUE(truncated);
}

TEST_P(MultipartTest, PrefixIsMatchedByBytesNotCase) {
  create(ObsPath{"bkt", "Data/1"});
  create(ObsPath{"bkt", "data/2"});
  create(ObsPath{"bkt", "data_3"});
  bool truncated = false;
  auto got = mp->uploads("bkt", "data/", "", "", 1000, truncated);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path.key, "data/2");
}

// ------------------------------------------------------------ parts

TEST_P(MultipartTest, PartsArriveInAnyOrderAndAReplacedOneIsForgotten) {
  auto u = create(path);
  std::string p1 = blob(1000, 1), p2 = blob(2000, 2), p3 = blob(3000, 3), p2b = blob(2500, 4);
  put_part(u, 3, p3);
  put_part(u, 1, p1);
  put_part(u, 2, p2);
  auto replaced = put_part(u, 2, p2b);
  EXPECT_EQ(replaced.etag, crypto::md5_hex(p2b));
  EXPECT_EQ(replaced.size, p2b.size());

  auto parts = all_parts(u);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].number, 1);
  EXPECT_EQ(parts[0].etag, crypto::md5_hex(p1));
  EXPECT_EQ(parts[1].number, 2);
  EXPECT_EQ(parts[1].etag, crypto::md5_hex(p2b));
  EXPECT_EQ(parts[1].size, 2500u);
  EXPECT_EQ(parts[2].number, 3);
  EXPECT_GT(parts[2].mtime_ms, 0);
  EXPECT_EQ(spool_files().size(), 3u);  // the replaced file is gone

  bool truncated = false;
  auto page = mp->parts(u, 1, 1, truncated);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].number, 2);
  EXPECT_TRUE(truncated);
  page = mp->parts(u, 2, 5, truncated);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].number, 3);
  EXPECT_FALSE(truncated);
}

TEST_P(MultipartTest, PartNumberOutOfRangeIsInvalidArgument) {
  auto u = create(path);
  EXPECT_API_ERROR(mp->part_writer(u, 0), 400, "InvalidArgument");
  EXPECT_API_ERROR(mp->part_writer(u, Multipart::kMaxPartNumber + 1), 400, "InvalidArgument");
  EXPECT_NO_THROW(put_part(u, Multipart::kMaxPartNumber, "last"));
}

TEST_P(MultipartTest, ContentMd5IsChecked) {
  auto u = create(path);
  std::string data = blob(5000, 7);
  auto w = mp->part_writer(u, 1, crypto::md5_hex("something else"));
  w->write(data.data(), data.size());
  EXPECT_API_ERROR(w->commit(), 400, "BadDigest");
  w.reset();
  EXPECT_TRUE(all_parts(u).empty());
  EXPECT_TRUE(spool_files().empty());

  std::string md5 = crypto::md5_hex(data);
  std::transform(md5.begin(), md5.end(), md5.begin(), ::toupper);  // hex of either case
  w = mp->part_writer(u, 1, md5);
  w->write(data.data(), data.size());
  EXPECT_EQ(w->commit().etag, crypto::md5_hex(data));
}

TEST_P(MultipartTest, APartWriterDestroyedUncommittedLeavesNothing) {
  auto u = create(path);
  put_part(u, 1, "kept");
  {
    auto w = mp->part_writer(u, 2);
    std::string data = blob(100000, 5);
    w->write(data.data(), data.size());
    EXPECT_EQ(spool_files().size(), 2u);  // the part under way has its file
  }
  EXPECT_EQ(spool_files().size(), 1u);
  auto parts = all_parts(u);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].number, 1);
}

// ------------------------------------------------------------ completion

TEST_P(MultipartTest, CompleteAssemblesThePartsUnderS3sEtag) {
  PutOptions o;
  o.content_type = "application/octet-stream";
  o.metadata = {{"origin", "camera-3"}};
  auto u = mp->create(path, o, "user-1");
  std::string p1 = blob(5 * kMiB, 1), p2 = blob(123, 2);
  auto a = put_part(u, 1, p1);
  auto b = put_part(u, 2, p2);
  EXPECT_FALSE(objects->head(path));  // nothing under the key before completion

  // Clients send the etags quoted, as S3 lists them.
  ObjectInfo info = mp->complete(u, {{1, "\"" + a.etag + "\""}, {2, b.etag}});
  std::string etag = multipart_etag({p1, p2});
  EXPECT_EQ(info.etag, etag);
  EXPECT_EQ(info.size, p1.size() + p2.size());
  EXPECT_EQ(objects->get_all(path), p1 + p2);
  auto head = objects->head(path);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->etag, etag);
  EXPECT_EQ(head->content_type, "application/octet-stream");
  EXPECT_EQ(head->metadata, o.metadata);
  EXPECT_EQ(objects->get(path)->info().etag, etag);

  // The upload is gone with its files.
  EXPECT_FALSE(mp->find(u.id, path));
  EXPECT_TRUE(spool_files().empty());
  EXPECT_API_ERROR(mp->complete(u, {{1, a.etag}, {2, b.etag}}), 404, "NoSuchUpload");
  EXPECT_FALSE(mp->abort(u.id));
  auto late = mp->part_writer(u, 3);
  late->write("x", 1);
  EXPECT_API_ERROR(late->commit(), 404, "NoSuchUpload");
  late.reset();
  EXPECT_TRUE(spool_files().empty());
}

TEST_P(MultipartTest, CompleteTakesOnlyTheListedParts) {
  auto u = create(path);
  std::string p1 = blob(5 * kMiB, 1), p2 = blob(10, 2), p3 = blob(20, 3);
  auto a = put_part(u, 1, p1);
  put_part(u, 2, p2);
  auto c = put_part(u, 3, p3);
  ObjectInfo info = mp->complete(u, {{1, a.etag}, {3, c.etag}});
  EXPECT_EQ(info.etag, multipart_etag({p1, p3}));
  EXPECT_EQ(objects->get_all(path), p1 + p3);
  EXPECT_TRUE(spool_files().empty());  // part 2's file too
}

TEST_P(MultipartTest, ASingleSmallPartIsAnObject) {
  auto u = create(path);
  auto a = put_part(u, 7, "tiny");
  ObjectInfo info = mp->complete(u, {{7, a.etag}});
  EXPECT_EQ(info.etag, multipart_etag({"tiny"}));
  EXPECT_EQ(objects->get_all(path), "tiny");
}

TEST_P(MultipartTest, CompleteRefusesListsOutOfOrder) {
  auto u = create(path);
  auto a = put_part(u, 1, blob(5 * kMiB, 1));
  auto b = put_part(u, 2, "end");
  EXPECT_API_ERROR(mp->complete(u, {{2, b.etag}, {1, a.etag}}), 400, "InvalidPartOrder");
  EXPECT_API_ERROR(mp->complete(u, {{1, a.etag}, {1, a.etag}}), 400, "InvalidPartOrder");
  EXPECT_API_ERROR(mp->complete(u, {}), 400, "MalformedXML");
  EXPECT_FALSE(objects->head(path));
  // The upload stays: a corrected list completes it.
  EXPECT_NO_THROW(mp->complete(u, {{1, a.etag}, {2, b.etag}}));
}

TEST_P(MultipartTest, CompleteRefusesUnknownPartsAndWrongEtags) {
  auto u = create(path);
  auto a = put_part(u, 1, blob(5 * kMiB, 1));
  auto b = put_part(u, 2, "end");
  EXPECT_API_ERROR(mp->complete(u, {{1, a.etag}, {2, crypto::md5_hex("other")}}), 400, "InvalidPart");
  EXPECT_API_ERROR(mp->complete(u, {{1, a.etag}, {3, b.etag}}), 400, "InvalidPart");
  EXPECT_FALSE(objects->head(path));
  EXPECT_EQ(all_parts(u).size(), 2u);
  EXPECT_NO_THROW(mp->complete(u, {{1, a.etag}, {2, b.etag}}));
}

TEST_P(MultipartTest, EveryPartButTheLastMustHoldFiveMiB) {
  auto u = create(path);
  auto a = put_part(u, 1, blob(5 * kMiB - 1, 1));
  auto b = put_part(u, 2, blob(5 * kMiB, 2));
  EXPECT_API_ERROR(mp->complete(u, {{1, a.etag}, {2, b.etag}}), 400, "EntityTooSmall");
  EXPECT_FALSE(objects->head(path));
  // The small one last is fine.
  auto c = put_part(u, 3, blob(5 * kMiB, 3));
  EXPECT_NO_THROW(mp->complete(u, {{2, b.etag}, {3, c.etag}}));
}

TEST_P(MultipartTest, LargePartsStreamThrough) {
  auto u = create(path);
  std::vector<std::string> parts = {blob(6 * kMiB, 1), blob(6 * kMiB, 2), blob(6 * kMiB, 3)};
  std::vector<std::pair<int, std::string>> list;
  for (int i = 0; i < 3; ++i) list.emplace_back(i + 1, put_part(u, i + 1, parts[size_t(i)], 1 << 20).etag);
  ObjectInfo info = mp->complete(u, list);
  EXPECT_EQ(info.size, 18 * kMiB);
  EXPECT_EQ(info.etag, multipart_etag(parts));
  EXPECT_TRUE(objects->get_all(path) == parts[0] + parts[1] + parts[2]);
}

TEST_P(MultipartTest, OfTwoCompletionsAtOnceExactlyOneSucceeds) {
  for (int round = 0; round < 5; ++round) {
    ObsPath p{"bkt", "race/" + std::to_string(round)};
    auto u = create(p);
    std::string p1 = blob(5 * kMiB, unsigned(round)), p2 = blob(1000, 99);
    std::vector<std::pair<int, std::string>> list = {{1, put_part(u, 1, p1).etag}, {2, put_part(u, 2, p2).etag}};
    std::atomic<int> ready{0}, won{0}, lost{0};
    auto run = [&] {
      ++ready;
      while (ready < 2) std::this_thread::yield();
      try {
        mp->complete(u, list);
        ++won;
      } catch (const atelier::ApiError& e) {
        if (e.code() == "NoSuchUpload") ++lost;
      }
    };
    std::thread t1(run), t2(run);
    t1.join();
    t2.join();
    EXPECT_EQ(won, 1);
    EXPECT_EQ(lost, 1);
    EXPECT_TRUE(objects->get_all(p) == p1 + p2);
  }
  EXPECT_TRUE(spool_files().empty());
}

// A completion cut off by a crash holds its claim no longer than the lease.
TEST_P(MultipartTest, AStaleCompletionClaimIsTakenOver) {
  auto u = create(path);
  auto a = put_part(u, 1, "only");
  db->exec("UPDATE multipart_uploads SET claimed = ? WHERE id = ?", {atelier::clock::now_ms(), u.id});
  EXPECT_API_ERROR(mp->complete(u, {{1, a.etag}}), 404, "NoSuchUpload");  // one is under way
  EXPECT_FALSE(mp->abort(u.id));
  db->exec("UPDATE multipart_uploads SET claimed = ? WHERE id = ?", {atelier::clock::now_ms() - 3600 * 1000, u.id});
  EXPECT_EQ(mp->complete(u, {{1, a.etag}}).etag, multipart_etag({"only"}));
}

// ------------------------------------------------------------ forgetting

TEST_P(MultipartTest, AbortForgetsTheUploadAndItsFiles) {
  auto u = create(path);
  auto a = put_part(u, 1, blob(1000, 1));
  put_part(u, 2, blob(1000, 2));
  auto pending = mp->part_writer(u, 3);
  pending->write("abc", 3);
  EXPECT_TRUE(mp->abort(u.id));
  EXPECT_FALSE(mp->abort(u.id));
  EXPECT_FALSE(mp->find(u.id, path));
  EXPECT_TRUE(all_parts(u).empty());
  EXPECT_API_ERROR(pending->commit(), 404, "NoSuchUpload");
  pending.reset();
  EXPECT_TRUE(spool_files().empty());
  EXPECT_API_ERROR(mp->complete(u, {{1, a.etag}}), 404, "NoSuchUpload");
  EXPECT_FALSE(objects->head(path));
}

TEST_P(MultipartTest, CleanAbortsUploadsInitiatedBefore) {
  auto old1 = create(ObsPath{"bkt", "old1"});
  auto old2 = create(ObsPath{"bkt", "old2"});
  put_part(old1, 1, "a");
  put_part(old2, 1, "b");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int64_t cut = atelier::clock::now_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto fresh = create(ObsPath{"bkt", "fresh"});
  put_part(fresh, 1, "c");
  EXPECT_EQ(mp->clean(cut), 2u);
  EXPECT_FALSE(mp->find(old1.id, old1.path));
  EXPECT_FALSE(mp->find(old2.id, old2.path));
  EXPECT_TRUE(mp->find(fresh.id, fresh.path));
  EXPECT_EQ(spool_files().size(), 1u);
  EXPECT_EQ(mp->clean(cut), 0u);
}

TEST_P(MultipartTest, StartingSweepsAbandonedFiles) {
  auto u = create(path);
  put_part(u, 1, "kept");
  std::string kept = spool_files().at(0);
  auto write = [&](const std::string& name) { std::ofstream(spool + "/" + name) << "junk"; };
  write(u.id + ".2.abcdef.tmp");       // a part upload cut off
  write(u.id + ".3.0123456789abcdef");  // a placed file whose row never came
  write("fresh.tmp");                   // another process's upload under way
  auto hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);
  for (auto& name : {kept, u.id + ".2.abcdef.tmp", u.id + ".3.0123456789abcdef"})
    fs::last_write_time(spool + "/" + name, hours_ago);
  Multipart again(*db, *objects, spool);
  std::vector<std::string> want = {kept, "fresh.tmp"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(spool_files(), want);
  EXPECT_EQ(all_parts(u).size(), 1u);
}
