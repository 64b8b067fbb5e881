// Thin wrappers over OpenSSL 3 and libargon2: hashing, MACs, randomness,
// password hashing and sealing secrets at rest.
#pragma once
#include <string>
#include <string_view>

namespace atelier::crypto {

std::string sha256_hex(std::string_view data);
std::string md5_hex(std::string_view data);  // content addressing only, never security
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw bytes
// HMAC-SHA1 (raw bytes): only for the S3/OBS V2 signatures clients still send.
std::string hmac_sha1(std::string_view key, std::string_view data);

// SHA-256 over data given in pieces; equals sha256_hex of the concatenation.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  std::string final_hex();  // then the object starts over, empty

 private:
  alignas(8) unsigned char ctx_[128];  // SHA256_CTX (112 bytes), kept opaque
};
std::string hex(std::string_view bytes);                                // lower case
std::string random_bytes(size_t n);
std::string random_hex(size_t nbytes);
std::string base64url(std::string_view bytes);  // no padding
std::string base64(std::string_view bytes);
bool base64_decode(std::string_view in, std::string& out);

// Compares in time independent of where the inputs differ.
bool equal_ct(std::string_view a, std::string_view b);

// Argon2id, encoded PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
std::string password_hash(std::string_view password);
bool password_verify(std::string_view encoded, std::string_view password);

// AES-256-GCM with a 32-byte key; output is base64(nonce | ciphertext | tag).
std::string seal(std::string_view key, std::string_view plaintext);
// Returns false when the blob was not sealed by `key` or was altered.
bool open(std::string_view key, std::string_view sealed, std::string& plaintext);

}  // namespace atelier::crypto
