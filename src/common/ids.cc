#include "common/ids.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>

#include "common/crypto.h"

namespace atelier::ids {

static uint64_t now_ms() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

// Resource ids need uniqueness, not secrecy: a per-thread generator seeded
// from the system's CSPRNG is many times cheaper than a locked RAND_bytes
// call per id. Secrets (secret keys) keep using crypto::random_bytes.
static std::mt19937_64& fast_rng() {
  thread_local std::mt19937_64 rng([] {
    std::string seed = crypto::random_bytes(8);
    uint64_t v;
    std::memcpy(&v, seed.data(), 8);
    return v;
  }());
  return rng;
}

static std::string fast_bytes(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = fast_rng()();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

// Appends n characters of `alphabet` (its first `base`). `secret` draws
// from the CSPRNG; otherwise from the fast generator, a word at a time.
static void append_from_alphabet(std::string& out, const char* alphabet, size_t base, size_t n, bool secret = false) {
  // Rejection sampling keeps the distribution uniform.
  const unsigned limit = 256 - 256 % base;
  const size_t end = out.size() + n;
  auto take = [&](unsigned char c) {
    if (c < limit && out.size() < end) out.push_back(alphabet[c % base]);
  };
  while (out.size() < end) {
    if (secret)
      for (unsigned char c : crypto::random_bytes(n * 2)) take(c);
    else
      for (uint64_t v = fast_rng()(), b = 0; b < 8; ++b, v >>= 8) take(static_cast<unsigned char>(v));
  }
}

static std::string from_alphabet(const char* alphabet, size_t base, size_t n, bool secret = false) {
  std::string out;
  out.reserve(n);
  append_from_alphabet(out, alphabet, base, n, secret);
  return out;
}

static const char* kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

std::string hex32() {
  char ts[13];
  snprintf(ts, sizeof ts, "%012llx", static_cast<unsigned long long>(now_ms() & 0xffffffffffffULL));
  return std::string(ts) + crypto::hex(fast_bytes(10));
}

std::string base62_19() {
  // 8 base62 digits hold 2.1e14 ms (about 6900 years) of timestamp.
  std::string out(8, '0');
  out.reserve(19);
  uint64_t t = now_ms();
  for (int i = 7; i >= 0; --i) {
    out[i] = kBase62[t % 62];
    t /= 62;
  }
  append_from_alphabet(out, kBase62, 62, 11);
  return out;
}

std::string uuid() {
  std::string r = fast_bytes(16);
  uint64_t t = now_ms();
  for (int i = 5; i >= 0; --i) {
    r[i] = char(t & 0xff);
    t >>= 8;
  }
  r[6] = char((r[6] & 0x0f) | 0x70);
  r[8] = char((r[8] & 0x3f) | 0x80);
  std::string h = crypto::hex(r);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::string access_key() { return from_alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 36, 20, true); }
std::string secret_key() { return from_alphabet(kBase62, 62, 40, true); }

int64_t long_id() {
  static std::atomic<int64_t> last{0};
  int64_t now = int64_t(now_ms()) * 1000;
  int64_t prev = last.load();
  int64_t next;
  do {
    next = std::max(now, prev + 1);
  } while (!last.compare_exchange_weak(prev, next));
  return next;
}

}  // namespace atelier::ids
