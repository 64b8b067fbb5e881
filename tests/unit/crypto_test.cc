#include "common/crypto.h"

#include <gtest/gtest.h>

#include <set>

namespace c = atelier::crypto;

TEST(Crypto, Sha256KnownVectors) {
  EXPECT_EQ(c::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(c::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(c::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Embedded NUL bytes are hashed, not treated as a terminator.
  EXPECT_NE(c::sha256_hex(std::string("a\0b", 3)), c::sha256_hex("a"));
}

TEST(Crypto, HmacSha256Rfc4231) {
  // RFC 4231 test case 1.
  std::string key1(20, '\x0b');
  EXPECT_EQ(c::hex(c::hmac_sha256(key1, "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2.
  EXPECT_EQ(c::hex(c::hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: key longer than the block size.
  std::string key6(131, '\xaa');
  EXPECT_EQ(c::hex(c::hmac_sha256(key6, "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(c::hmac_sha256("k", "m").size(), 32u);  // raw bytes, not hex
}

TEST(Crypto, HexLowerCase) {
  EXPECT_EQ(c::hex(std::string("\x00\xff\x10\xAB", 4)), "00ff10ab");
  EXPECT_EQ(c::hex(""), "");
}

TEST(Crypto, RandomBytesAndHex) {
  EXPECT_EQ(c::random_bytes(0).size(), 0u);
  EXPECT_EQ(c::random_bytes(33).size(), 33u);
  std::string h = c::random_hex(16);
  ASSERT_EQ(h.size(), 32u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(c::random_hex(16));
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Crypto, Base64Rfc4648Vectors) {
  EXPECT_EQ(c::base64(""), "");
  EXPECT_EQ(c::base64("f"), "Zg==");
  EXPECT_EQ(c::base64("fo"), "Zm8=");
  EXPECT_EQ(c::base64("foo"), "Zm9v");
  EXPECT_EQ(c::base64("foob"), "Zm9vYg==");
  EXPECT_EQ(c::base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(c::base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(c::base64("\xfb\xff\xfe"), "+//+");
}

TEST(Crypto, Base64UrlNoPaddingUrlAlphabet) {
  EXPECT_EQ(c::base64url("\xfb\xff\xfe"), "-__-");
  EXPECT_EQ(c::base64url("\xfb\xff"), "-_8");
  EXPECT_EQ(c::base64url("f"), "Zg");
  EXPECT_EQ(c::base64url(""), "");
}

static std::string from_base64url(std::string s) {
  for (char& ch : s) ch = ch == '-' ? '+' : ch == '_' ? '/' : ch;
  while (s.size() % 4) s.push_back('=');
  std::string out;
  EXPECT_TRUE(c::base64_decode(s, out)) << s;
  return out;
}

TEST(Crypto, Base64RoundTripAllLengths) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(char(i));
  for (size_t n = 0; n <= 70; ++n) {
    std::string in = all.substr(n, n);  // varied bytes, lengths 0..70 (mod 3 all covered)
    std::string out;
    ASSERT_TRUE(c::base64_decode(c::base64(in), out)) << n;
    EXPECT_EQ(out, in) << n;
    std::string url = c::base64url(in);
    EXPECT_EQ(url.find_first_of("+/="), std::string::npos) << url;
    EXPECT_EQ(from_base64url(url), in) << n;
  }
  std::string out;
  ASSERT_TRUE(c::base64_decode(c::base64(all), out));
  EXPECT_EQ(out, all);
}

TEST(Crypto, Base64DecodeRejectsMalformed) {
  std::string out;
  EXPECT_FALSE(c::base64_decode("abc", out));    // not a multiple of 4
  EXPECT_FALSE(c::base64_decode("ab$=", out));   // not in the alphabet
  EXPECT_FALSE(c::base64_decode("Zm9v!", out));
  EXPECT_TRUE(c::base64_decode("", out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(c::base64_decode("Zm8=", out));
  EXPECT_EQ(out, "fo");
}

TEST(Crypto, Base64DecodeRejectsMisplacedPadding) {
  // Padding only at the very end, at most two '='; anything else is not base64
  // and must not decode to made-up NUL bytes.
  for (const char* s : {"====", "A===", "Zg==Zg==", "Zm8=Zm8=", "Zg=a"}) {
    std::string out;
    EXPECT_FALSE(c::base64_decode(s, out)) << s << " decoded to hex " << c::hex(out);
  }
}

TEST(Crypto, EqualCt) {
  EXPECT_TRUE(c::equal_ct("", ""));
  EXPECT_TRUE(c::equal_ct("abcdef", "abcdef"));
  EXPECT_FALSE(c::equal_ct("abcdef", "abcdeg"));
  EXPECT_FALSE(c::equal_ct("Abcdef", "abcdef"));
  EXPECT_FALSE(c::equal_ct("abc", "abcd"));  // prefix is not equal
  EXPECT_FALSE(c::equal_ct("abcd", ""));
  EXPECT_TRUE(c::equal_ct(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(c::equal_ct(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(Crypto, Argon2idHashAndVerify) {
  std::string h1 = c::password_hash("S3cret-pass");
  EXPECT_EQ(h1.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << h1;
  EXPECT_EQ(h1.find('\0'), std::string::npos);  // no trailing NUL padding
  EXPECT_TRUE(c::password_verify(h1, "S3cret-pass"));
  EXPECT_FALSE(c::password_verify(h1, "S3cret-pasS"));
  EXPECT_FALSE(c::password_verify(h1, ""));
  EXPECT_FALSE(c::password_verify(h1, "S3cret-pass "));
  // A random salt: the same password never hashes the same twice.
  std::string h2 = c::password_hash("S3cret-pass");
  EXPECT_NE(h1, h2);
  EXPECT_FALSE(c::password_verify("not an argon2 string", "S3cret-pass"));
  EXPECT_FALSE(c::password_verify("", ""));
}

static const std::string kKey = std::string("0123456789abcdef0123456789ABCDEF");

TEST(Crypto, SealOpenRoundTrip) {
  ASSERT_EQ(kKey.size(), 32u);
  for (std::string pt : {std::string(""), std::string("x"), std::string("secret key 40 chars long ............."),
                         std::string("bin\0ary\xff", 8), std::string(5000, 'z')}) {
    std::string sealed = c::seal(kKey, pt);
    std::string raw;
    ASSERT_TRUE(c::base64_decode(sealed, raw));
    EXPECT_EQ(raw.size(), 12 + pt.size() + 16);  // nonce | ciphertext | tag
    if (pt.size() > 8) {
      EXPECT_EQ(raw.find(pt), std::string::npos);  // not stored in clear
    }
    std::string back = "garbage";
    ASSERT_TRUE(c::open(kKey, sealed, back));
    EXPECT_EQ(back, pt);
  }
  // A fresh nonce each time.
  EXPECT_NE(c::seal(kKey, "same"), c::seal(kKey, "same"));
}

TEST(Crypto, OpenDetectsTamperingAndWrongKey) {
  std::string sealed = c::seal(kKey, "the secret key");
  std::string raw;
  ASSERT_TRUE(c::base64_decode(sealed, raw));
  std::string out;
  // Flip one bit in the nonce, the ciphertext and the tag in turn.
  for (size_t pos : {size_t(0), size_t(11), size_t(12), size_t(20), raw.size() - 16, raw.size() - 1}) {
    std::string bad = raw;
    bad[pos] = char(bad[pos] ^ 0x01);
    out = "x";
    EXPECT_FALSE(c::open(kKey, c::base64(bad), out)) << "flipped byte " << pos;
    EXPECT_EQ(out, "") << "no partial plaintext on failure";
  }
  std::string other = kKey;
  other[0] = 'X';
  EXPECT_FALSE(c::open(other, sealed, out));
  EXPECT_FALSE(c::open(kKey.substr(0, 31), sealed, out));
  EXPECT_FALSE(c::open(kKey, sealed.substr(0, sealed.size() - 4), out));  // truncated
  EXPECT_FALSE(c::open(kKey, "not base64!", out));
  EXPECT_FALSE(c::open(kKey, c::base64(std::string(27, 'a')), out));  // shorter than nonce+tag
  EXPECT_FALSE(c::open(kKey, "", out));
  ASSERT_TRUE(c::open(kKey, sealed, out));
  EXPECT_EQ(out, "the secret key");
}

TEST(Crypto, SealRejectsWrongKeySize) {
  EXPECT_THROW(c::seal(kKey.substr(0, 31), "x"), std::runtime_error);
  EXPECT_THROW(c::seal(kKey + "!", "x"), std::runtime_error);
  EXPECT_THROW(c::seal("", "x"), std::runtime_error);
}

TEST(Crypto, HmacSha1Rfc2202) {
  // RFC 2202 test cases 1, 2 and 6 (key longer than the block size).
  EXPECT_EQ(c::hex(c::hmac_sha1(std::string(20, '\x0b'), "Hi There")), "b617318655057264e28bc0b6fb378c8ef146be00");
  EXPECT_EQ(c::hex(c::hmac_sha1("Jefe", "what do ya want for nothing?")), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(c::hex(c::hmac_sha1(std::string(80, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

TEST(Crypto, Sha256InPiecesEqualsWhole) {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = char(i * 7);
  c::Sha256 h;
  for (size_t i = 0; i < data.size(); i += 977) h.update(std::string_view(data).substr(i, 977));
  EXPECT_EQ(h.final_hex(), c::sha256_hex(data));
  EXPECT_EQ(h.final_hex(), c::sha256_hex(""));  // starts over after final_hex
}
