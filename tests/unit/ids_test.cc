#include "common/ids.h"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <set>
#include <thread>

namespace ids = atelier::ids;

static bool only(const std::string& s, const char* alphabet) {
  return s.find_first_not_of(alphabet) == std::string::npos;
}
static const char* kHex = "0123456789abcdef";
static const char* kB62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

static int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(Ids, Hex32Shape) {
  for (int i = 0; i < 50; ++i) {
    std::string id = ids::hex32();
    ASSERT_EQ(id.size(), 32u) << id;
    EXPECT_TRUE(only(id, kHex)) << id;
  }
}

TEST(Ids, Hex32LeadsWithTimestamp) {
  int64_t before = now_ms();
  std::string id = ids::hex32();
  int64_t after = now_ms();
  int64_t ts = std::stoll(id.substr(0, 12), nullptr, 16);
  EXPECT_GE(ts, before & 0xffffffffffffLL);
  EXPECT_LE(ts, after & 0xffffffffffffLL);
}

TEST(Ids, Base62Shape) {
  for (int i = 0; i < 50; ++i) {
    std::string id = ids::base62_19();
    ASSERT_EQ(id.size(), 19u) << id;
    EXPECT_TRUE(only(id, kB62)) << id;
  }
}

TEST(Ids, UuidV7Format) {
  static const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 50; ++i) {
    std::string id = ids::uuid();
    EXPECT_TRUE(std::regex_match(id, re)) << id;
  }
  int64_t before = now_ms();
  std::string id = ids::uuid();
  int64_t after = now_ms();
  std::string hex48 = id.substr(0, 8) + id.substr(9, 4);
  int64_t ts = std::stoll(hex48, nullptr, 16);
  EXPECT_GE(ts, before);
  EXPECT_LE(ts, after);
}

TEST(Ids, AccessKeyShape) {
  for (int i = 0; i < 50; ++i) {
    std::string ak = ids::access_key();
    ASSERT_EQ(ak.size(), 20u) << ak;
    EXPECT_TRUE(only(ak, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")) << ak;
  }
}

TEST(Ids, SecretKeyShape) {
  std::set<char> chars;
  for (int i = 0; i < 50; ++i) {
    std::string sk = ids::secret_key();
    ASSERT_EQ(sk.size(), 40u) << sk;
    EXPECT_TRUE(only(sk, kB62)) << sk;
    chars.insert(sk.begin(), sk.end());
  }
  // 2000 draws from 62 symbols: upper, lower and digits all appear.
  bool up = false, lo = false, dig = false;
  for (char ch : chars) {
    up |= ch >= 'A' && ch <= 'Z';
    lo |= ch >= 'a' && ch <= 'z';
    dig |= ch >= '0' && ch <= '9';
  }
  EXPECT_TRUE(up && lo && dig);
  EXPECT_GT(chars.size(), 55u);
}

TEST(Ids, TimeOrderedAcrossMilliseconds) {
  std::string h1 = ids::hex32(), b1 = ids::base62_19(), u1 = ids::uuid();
  sleep_ms(2);
  std::string h2 = ids::hex32(), b2 = ids::base62_19(), u2 = ids::uuid();
  sleep_ms(2);
  std::string h3 = ids::hex32(), b3 = ids::base62_19(), u3 = ids::uuid();
  EXPECT_LT(h1, h2);
  EXPECT_LT(h2, h3);
  EXPECT_LT(b1, b2);
  EXPECT_LT(b2, b3);
  EXPECT_LT(u1, u2);
  EXPECT_LT(u2, u3);
  // The time part itself moves forward, not just the random tail.
  EXPECT_LT(h1.substr(0, 12), h3.substr(0, 12));
  EXPECT_LT(b1.substr(0, 8), b3.substr(0, 8));
  EXPECT_LT(u1.substr(0, 13), u3.substr(0, 13));
}

TEST(Ids, UniqueOver10k) {
  std::set<std::string> h, b, u, a, s;
  for (int i = 0; i < 10000; ++i) {
    h.insert(ids::hex32());
    b.insert(ids::base62_19());
    u.insert(ids::uuid());
    a.insert(ids::access_key());
    s.insert(ids::secret_key());
  }
  EXPECT_EQ(h.size(), 10000u);
  EXPECT_EQ(b.size(), 10000u);
  EXPECT_EQ(u.size(), 10000u);
  EXPECT_EQ(a.size(), 10000u);
  EXPECT_EQ(s.size(), 10000u);
}
