// Thin wrappers over OpenSSL 3 and libargon2: hashing, MACs, randomness,
// password hashing and sealing secrets at rest.
#pragma once
#include <string>
#include <string_view>

namespace atelier::crypto {

std::string sha256_hex(std::string_view data);
std::string md5_hex(std::string_view data);  // content addressing only, never security
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw bytes
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
