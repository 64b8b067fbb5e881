#include "common/crypto.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <openssl/rand.h>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <stdexcept>

namespace atelier::crypto {

// The request path hashes short strings (token digests, AK/SK signatures:
// three SHA-256 runs per request). OpenSSL 3's EVP layer allocates and
// frees provider state on every init, which costs more than the hashing
// itself at these sizes, so we call the low-level SHA-256/MD5 routines
// directly: no allocation, no algorithm lookup. They are deprecated in
// OpenSSL 3 in favour of EVP but remain supported for its lifetime.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
namespace {
void sha256_parts(std::initializer_list<std::string_view> parts, unsigned char out[32]) {
  SHA256_CTX c;
  SHA256_Init(&c);
  for (auto p : parts) SHA256_Update(&c, p.data(), p.size());
  SHA256_Final(out, &c);
}

void md5(std::string_view data, unsigned char out[16]) {
  MD5_CTX c;
  MD5_Init(&c);
  MD5_Update(&c, data.data(), data.size());
  MD5_Final(out, &c);
}
}  // namespace
#pragma GCC diagnostic pop

std::string sha256_hex(std::string_view data) {
  unsigned char md[32];
  sha256_parts({data}, md);
  return hex(std::string_view(reinterpret_cast<char*>(md), 32));
}

std::string md5_hex(std::string_view data) {
  unsigned char md[16];
  md5(data, md);
  return hex(std::string_view(reinterpret_cast<char*>(md), 16));
}

// RFC 2104 over the cached SHA-256.
std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char k[64] = {0};
  if (key.size() > 64) sha256_parts({key}, k);
  else std::copy(key.begin(), key.end(), k);
  char ipad[64], opad[64];
  for (int i = 0; i < 64; ++i) {
    ipad[i] = char(k[i] ^ 0x36);
    opad[i] = char(k[i] ^ 0x5c);
  }
  unsigned char inner[32], outer[32];
  sha256_parts({std::string_view(ipad, 64), data}, inner);
  sha256_parts({std::string_view(opad, 64), std::string_view(reinterpret_cast<char*>(inner), 32)}, outer);
  return std::string(reinterpret_cast<char*>(outer), 32);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(sizeof(SHA256_CTX) <= 128, "Sha256::ctx_ too small");

Sha256::Sha256() { SHA256_Init(reinterpret_cast<SHA256_CTX*>(ctx_)); }

void Sha256::update(std::string_view data) {
  SHA256_Update(reinterpret_cast<SHA256_CTX*>(ctx_), data.data(), data.size());
}

std::string Sha256::final_hex() {
  unsigned char md[32];
  SHA256_Final(md, reinterpret_cast<SHA256_CTX*>(ctx_));
  SHA256_Init(reinterpret_cast<SHA256_CTX*>(ctx_));
  return hex(std::string_view(reinterpret_cast<char*>(md), 32));
}
#pragma GCC diagnostic pop

std::string hmac_sha1(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha1(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), md, &n))
    throw std::runtime_error("HMAC-SHA1 failed");
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string hex(std::string_view bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return out;
}

std::string random_hex(size_t nbytes) { return hex(random_bytes(nbytes)); }

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
  out.resize(n);
  return out;
}

std::string base64url(std::string_view bytes) {
  std::string s = base64(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

bool base64_decode(std::string_view in, std::string& out) {
  if (in.size() % 4) return false;
  // '=' only as padding: the last one or two characters.
  size_t eq = in.find('=');
  if (eq != std::string_view::npos) {
    if (eq < in.size() - 2 || in.find_first_not_of('=', eq) != std::string_view::npos) return false;
  }
  out.assign(3 * in.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
  if (n < 0) return false;
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') pad++;
  if (in.size() > 1 && in[in.size() - 2] == '=') pad++;
  out.resize(size_t(n) - pad);
  return true;
}

bool equal_ct(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
static constexpr uint32_t kArgonT = 2, kArgonM = 19 * 1024, kArgonP = 1;

std::string password_hash(std::string_view password) {
  std::string salt = random_bytes(16);
  size_t len = argon2_encodedlen(kArgonT, kArgonM, kArgonP, uint32_t(salt.size()), 32, Argon2_id);
  std::string out(len, '\0');
  int rc = argon2id_hash_encoded(kArgonT, kArgonM, kArgonP, password.data(), password.size(),
                                 salt.data(), salt.size(), 32, out.data(), len);
  if (rc != ARGON2_OK) throw std::runtime_error(argon2_error_message(rc));
  out.resize(out.find('\0') == std::string::npos ? out.size() : out.find('\0'));
  return out;
}

bool password_verify(std::string_view encoded, std::string_view password) {
  std::string enc(encoded);
  return argon2id_verify(enc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

std::string seal(std::string_view key, std::string_view plaintext) {
  if (key.size() != 32) throw std::runtime_error("seal: key must be 32 bytes");
  std::string nonce = random_bytes(12);
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  std::string ct(plaintext.size(), '\0');
  int n = 0;
  unsigned char tag[16];
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(ct.data()), &n,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        int(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), nullptr, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
    throw std::runtime_error("seal: encryption failed");
  return base64(nonce + ct + std::string(reinterpret_cast<char*>(tag), 16));
}

bool open(std::string_view key, std::string_view sealed, std::string& plaintext) {
  std::string raw;
  if (key.size() != 32 || !base64_decode(sealed, raw) || raw.size() < 28) return false;
  std::string nonce = raw.substr(0, 12), tag = raw.substr(raw.size() - 16);
  std::string ct = raw.substr(12, raw.size() - 28);
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  plaintext.assign(ct.size(), '\0');
  int n = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plaintext.data()), &n,
                        reinterpret_cast<const unsigned char*>(ct.data()), int(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), nullptr, &n) != 1) {
    plaintext.clear();
    return false;
  }
  return true;
}

}  // namespace atelier::crypto
