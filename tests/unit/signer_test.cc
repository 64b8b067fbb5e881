#include "iam/signer.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

using namespace atelier;
using iam::AuthorizationHeader;

namespace {

const std::string kSig64(64, 'a');
const std::string kEmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kSK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc";
const std::string kAK = "QTWAOYTTINDUT2QVKYUC";
const std::string kDate = "20210302T091500Z";

// ---- an independent client-side signer, written from the SDKs' algorithm --
// The canonical URI and query are given by hand, exactly as the SDK would
// produce them, so the server code under test is not used to build its own
// expectations.
std::string client_signature(const std::string& method, const std::string& canon_uri,
                             const std::string& canon_query,
                             const std::vector<std::pair<std::string, std::string>>& canon_headers,
                             const std::string& payload_hash, const std::string& date = kDate,
                             const std::string& sk = kSK) {
  std::string cr = method + "\n" + canon_uri + "\n" + canon_query + "\n";
  std::string names;
  for (auto& [k, v] : canon_headers) {
    cr += k + ":" + v + "\n";
    names += (names.empty() ? "" : ";") + k;
  }
  cr += "\n" + names + "\n" + payload_hash;
  std::string sts = "SDK-HMAC-SHA256\n" + date + "\n" + crypto::sha256_hex(cr);
  return crypto::hex(crypto::hmac_sha256(sk, sts));
}

std::string authorization(const std::string& signed_headers, const std::string& sig, const std::string& ak = kAK) {
  return "SDK-HMAC-SHA256 Access=" + ak + ", SignedHeaders=" + signed_headers + ", Signature=" + sig;
}

http::Request make_request(const std::string& method, const std::string& target, const std::string& body = "") {
  http::Request r;
  r.method = method;
  r.target = target;
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.raw_query = target.substr(q + 1);
  r.body = body;
  return r;
}

// Parses the request's Authorization header and verifies it with `sk`.
bool verify_req(const http::Request& r, const std::string& sk = kSK) {
  auto auth = iam::parse_authorization(r.headers.get("Authorization"));
  if (!auth) {
    ADD_FAILURE() << "Authorization header did not parse: " << r.headers.get("Authorization");
    return false;
  }
  return iam::verify(r, *auth, sk);
}

}  // namespace

// ------------------------------------------------------------ the worked example

TEST(Signer, SpecWorkedExampleCanonicalRequest) {
  http::Headers h;
  h.add("Host", "modelarts.example.local");
  h.add("Content-Type", "application/json");
  h.add("X-Sdk-Date", "20210302T091500Z");
  auto auth = iam::parse_authorization("SDK-HMAC-SHA256 Access=" + kAK +
                                       ", SignedHeaders=content-type;host;x-sdk-date, Signature=" + kSig64);
  ASSERT_TRUE(auth);
  auto uri = iam::canonical_uri("/v2/0123456789abcdef0123456789abcdef/datasets");
  ASSERT_TRUE(uri);
  std::string q = iam::canonical_query("limit=10&offset=0", false);
  std::string cr = iam::canonical_request("GET", *uri, q, h, *auth, crypto::sha256_hex(""));
  EXPECT_EQ(cr,
            "GET\n"
            "/v2/0123456789abcdef0123456789abcdef/datasets/\n"
            "limit=10&offset=0\n"
            "content-type:application/json\n"
            "host:modelarts.example.local\n"
            "x-sdk-date:20210302T091500Z\n"
            "\n"
            "content-type;host;x-sdk-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Hex values computed independently (Python hashlib/hmac) from the text above.
  EXPECT_EQ(crypto::sha256_hex(cr), "13cc59ce6ca4c233cf3fa7f5c0e700e21bf543a2532596c5106b480f3f5d9d77");
  std::string sts = iam::string_to_sign("20210302T091500Z", cr);
  EXPECT_EQ(sts,
            "SDK-HMAC-SHA256\n20210302T091500Z\n"
            "13cc59ce6ca4c233cf3fa7f5c0e700e21bf543a2532596c5106b480f3f5d9d77");
  EXPECT_EQ(iam::signature(kSK, sts), "e45a54ba13544761891c17705493312a8e9bdfda19c893306aceba54fc8a0df5");
}

TEST(Signer, SpecWorkedExampleVerifies) {
  auto r = make_request("GET", "/v2/0123456789abcdef0123456789abcdef/datasets?limit=10&offset=0");
  r.headers.add("Host", "modelarts.example.local");
  r.headers.add("Content-Type", "application/json");
  r.headers.add("X-Sdk-Date", "20210302T091500Z");
  r.headers.add("Authorization",
                authorization("content-type;host;x-sdk-date",
                              "e45a54ba13544761891c17705493312a8e9bdfda19c893306aceba54fc8a0df5"));
  EXPECT_TRUE(verify_req(r));
  EXPECT_FALSE(verify_req(r, kSK.substr(1) + "X"));  // wrong secret
  // The Credential= form of the same signature.
  auto r2 = r;
  r2.headers.set("Authorization",
                 "SDK-HMAC-SHA256 Credential=" + kAK + "/20210302/cn-north-4/modelarts/sdk_request, "
                 "SignedHeaders=content-type;host;x-sdk-date, "
                 "Signature=e45a54ba13544761891c17705493312a8e9bdfda19c893306aceba54fc8a0df5");
  EXPECT_TRUE(verify_req(r2));
}

// ------------------------------------------------------------ parse_authorization

TEST(SignerParse, AccessForm) {
  std::string sig = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  auto a = iam::parse_authorization("SDK-HMAC-SHA256 Access=AK123, SignedHeaders=content-type;host;x-sdk-date, Signature=" + sig);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->access_key, "AK123");
  EXPECT_EQ(a->signed_headers, (std::vector<std::string>{"content-type", "host", "x-sdk-date"}));
  EXPECT_EQ(a->signed_headers_raw, "content-type;host;x-sdk-date");
  EXPECT_EQ(a->signature, sig);
}

TEST(SignerParse, CredentialForm) {
  auto a = iam::parse_authorization("SDK-HMAC-SHA256 Credential=AKX/20210302/cn-north-4/modelarts/sdk_request, "
                                    "SignedHeaders=host;x-sdk-date, Signature=" + kSig64);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->access_key, "AKX");
  EXPECT_EQ(a->signed_headers, (std::vector<std::string>{"host", "x-sdk-date"}));
}

TEST(SignerParse, CaseAndWhitespaceTolerance) {
  std::string upper(64, 'A');
  auto a = iam::parse_authorization("  SDK-HMAC-SHA256   Access=AK ,  SignedHeaders=Host;X-Sdk-Date ,Signature=" + upper + " ");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->access_key, "AK");
  EXPECT_EQ(a->signature, std::string(64, 'a'));  // hex compared in lower case
  EXPECT_EQ(a->signed_headers, (std::vector<std::string>{"host", "x-sdk-date"}));
  EXPECT_EQ(a->signed_headers_raw, "Host;X-Sdk-Date");
}

TEST(SignerParse, Malformed) {
  const std::string s = kSig64;
  for (std::string bad : std::vector<std::string>{
           std::string(""),
           std::string("SDK-HMAC-SHA256"),
           std::string("SDK-HMAC-SHA256 "),
           "SDK-HMAC-SHA256Access=AK, SignedHeaders=host, Signature=" + s,      // no space
           "AWS4-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=" + s,    // other algorithm
           "V11-HMAC-SHA256 Credential=AK/d/r/s, SignedHeaders=host, Signature=" + s,
           "Basic dXNlcjpwYXNz",
           "SDK-HMAC-SHA256 SignedHeaders=host, Signature=" + s,                  // no access key
           "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=" + s,         // empty access key
           "SDK-HMAC-SHA256 Credential=/20210302/r/s/sdk_request, SignedHeaders=host, Signature=" + s,
           "SDK-HMAC-SHA256 Access=AK, Signature=" + s,                           // no SignedHeaders
           "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host",                        // no Signature
           "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=" + s.substr(1),   // 63 hex
           "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=" + s + "a",       // 65 hex
           "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x-sdk-date, Signature=" + s,  // empty name
           "SDK-HMAC-SHA256 Access=AK, SignedHeaders=, Signature=" + s,
           "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;, Signature=" + s,
           "SDK-HMAC-SHA256 Access=AK, garbage, SignedHeaders=host, Signature=" + s,  // part without '='
       }) {
    EXPECT_FALSE(iam::parse_authorization(bad).has_value()) << "accepted: " << bad;
  }
}

// ------------------------------------------------------------ canonical_uri

TEST(SignerCanonicalUri, AlwaysEndsWithSlash) {
  EXPECT_EQ(iam::canonical_uri("/v2/pid/datasets"), "/v2/pid/datasets/");
  EXPECT_EQ(iam::canonical_uri("/v2/pid/datasets/"), "/v2/pid/datasets/");
  EXPECT_EQ(iam::canonical_uri("/"), "/");
  EXPECT_EQ(iam::canonical_uri(""), "/");
  EXPECT_EQ(iam::canonical_uri("/v3/auth/tokens"), "/v3/auth/tokens/");
}

TEST(SignerCanonicalUri, EncodedSlashIsSignedAsARealSlash) {
  // As the SDKs build the canonical URI: decode the whole path first, then
  // split on '/', so "%2F" inside an id becomes a separator in the signature.
  EXPECT_EQ(iam::canonical_uri("/v2/pid/labels/a%2Fb"), "/v2/pid/labels/a/b/");
  EXPECT_EQ(iam::canonical_uri("/v2/pid/labels/a%2fb"), "/v2/pid/labels/a/b/");
}

TEST(SignerCanonicalUri, ReEncodesSegments) {
  EXPECT_EQ(iam::canonical_uri("/a b"), "/a%20b/");        // raw space
  EXPECT_EQ(iam::canonical_uri("/a%20b"), "/a%20b/");      // encoded space stays %20
  EXPECT_EQ(iam::canonical_uri("/a+b"), "/a%2Bb/");        // '+' is not unreserved
  EXPECT_EQ(iam::canonical_uri("/AZaz09-_.~"), "/AZaz09-_.~/");
  EXPECT_EQ(iam::canonical_uri("/%7E%41"), "/~A/");         // unreserved escapes come out literal
  EXPECT_EQ(iam::canonical_uri("/%e7%8c%ab"), "/%E7%8C%AB/");  // upper-case hex
  EXPECT_EQ(iam::canonical_uri("/a:b(c)*"), "/a%3Ab%28c%29%2A/");
  EXPECT_EQ(iam::canonical_uri("/a%25b"), "/a%25b/");      // a literal '%'
  EXPECT_EQ(iam::canonical_uri("/a//b"), "/a//b/");        // empty segments kept
}

TEST(SignerCanonicalUri, MalformedEscapes) {
  EXPECT_FALSE(iam::canonical_uri("/a%2").has_value());
  EXPECT_FALSE(iam::canonical_uri("/a%zz/b").has_value());
  EXPECT_FALSE(iam::canonical_uri("/a%").has_value());
}

// ------------------------------------------------------------ canonical_query

TEST(SignerCanonicalQuery, SortsByKeyThenValue) {
  EXPECT_EQ(iam::canonical_query("", false), "");
  EXPECT_EQ(iam::canonical_query("offset=0&limit=10", false), "limit=10&offset=0");
  EXPECT_EQ(iam::canonical_query("a=2&a=10&a=1", false), "a=1&a=10&a=2");  // values as strings
  EXPECT_EQ(iam::canonical_query("b=1&B=2&a=3", false), "B=2&a=3&b=1");    // byte order
  // Key first: "a" < "a-b" although "a-b=1" < "a=2" as whole strings.
  EXPECT_EQ(iam::canonical_query("a-b=1&a=2", false), "a=2&a-b=1");
}

TEST(SignerCanonicalQuery, EmptyValuesAndEncoding) {
  EXPECT_EQ(iam::canonical_query("k", false), "k=");
  EXPECT_EQ(iam::canonical_query("k=", false), "k=");
  EXPECT_EQ(iam::canonical_query("b&a=", false), "a=&b=");
  EXPECT_EQ(iam::canonical_query("&&a=1&", false), "a=1");
  EXPECT_EQ(iam::canonical_query("name=a%20b", false), "name=a%20b");
  EXPECT_EQ(iam::canonical_query("name=a+b", false), "name=a%20b");     // form encoding: '+' is a space
  EXPECT_EQ(iam::canonical_query("name=a%2Bb", false), "name=a%2Bb");   // a literal '+' arrives as %2B
  EXPECT_EQ(iam::canonical_query("x=%7e&y=%2f", false), "x=~&y=%2F");
  EXPECT_EQ(iam::canonical_query("q=a=b", false), "q=a%3Db");
  EXPECT_EQ(iam::canonical_query("%E7%8C%AB=1", false), "%E7%8C%AB=1");
}

TEST(SignerCanonicalQuery, LowerKeys) {
  EXPECT_EQ(iam::canonical_query("sortBy=name&Limit=5", false), "Limit=5&sortBy=name");
  EXPECT_EQ(iam::canonical_query("sortBy=name&Limit=5", true), "limit=5&sortby=name");
  EXPECT_EQ(iam::canonical_query("k=VALUE", true), "k=VALUE");  // values untouched
}

TEST(SignerCanonicalRequest, MultiValuedTrimmedAndMissingHeaders) {
  http::Headers h;
  h.add("X-Custom", "b");
  h.add("x-custom", "  a \t");
  h.add("Host", " h:8080 ");
  AuthorizationHeader auth;
  auth.signed_headers = {"host", "x-custom", "x-missing"};
  auth.signed_headers_raw = "host;x-custom;x-missing";
  std::string cr = iam::canonical_request("PUT", "/x/", "", h, auth, "HASH");
  EXPECT_EQ(cr, "PUT\n/x/\n\nhost:h:8080\nx-custom:a\nx-custom:b\nx-missing:\n\nhost;x-custom;x-missing\nHASH");
}

// ------------------------------------------------------------ verify()

namespace {

// POST /v2/pid/datasets?b=2&a=1 with a JSON body, signed by the test client.
http::Request signed_post() {
  std::string body = R"({"dataset_name":"d1"})";
  auto r = make_request("POST", "/v2/pid/datasets?b=2&a=1", body);
  r.headers.add("Host", "127.0.0.1:8443");
  r.headers.add("Content-Type", "application/json;charset=UTF-8");
  r.headers.add("X-Project-Id", "pid");
  r.headers.add("X-Sdk-Date", kDate);
  std::string sig = client_signature("POST", "/v2/pid/datasets/", "a=1&b=2",
                                     {{"content-type", "application/json;charset=UTF-8"},
                                      {"host", "127.0.0.1:8443"},
                                      {"x-project-id", "pid"},
                                      {"x-sdk-date", kDate}},
                                     crypto::sha256_hex(body));
  r.headers.add("Authorization", authorization("content-type;host;x-project-id;x-sdk-date", sig));
  return r;
}

}  // namespace

TEST(SignerVerify, RoundTrip) {
  auto r = signed_post();
  EXPECT_TRUE(verify_req(r));
  EXPECT_FALSE(verify_req(r, "another-secret"));
}

TEST(SignerVerify, UnsignedHeadersMayChange) {
  auto r = signed_post();
  r.headers.add("User-Agent", "huaweicloud-usdk-python/3.0");
  r.headers.add("X-Request-Id", "anything");
  EXPECT_TRUE(verify_req(r));
}

TEST(SignerVerify, TamperingFails) {
  {
    auto r = signed_post();
    r.body = R"({"dataset_name":"d2"})";
    EXPECT_FALSE(verify_req(r)) << "body";
  }
  {
    auto r = signed_post();
    r.body += " ";
    EXPECT_FALSE(verify_req(r)) << "body whitespace";
  }
  {
    auto r = signed_post();
    r.raw_query = "b=3&a=1";
    EXPECT_FALSE(verify_req(r)) << "query value";
  }
  {
    auto r = signed_post();
    r.raw_query = "b=2&a=1&c=0";
    EXPECT_FALSE(verify_req(r)) << "extra query parameter";
  }
  {
    auto r = signed_post();
    r.raw_query = "";
    EXPECT_FALSE(verify_req(r)) << "query dropped";
  }
  {
    auto r = signed_post();
    r.headers.set("Host", "evil.example:8443");
    EXPECT_FALSE(verify_req(r)) << "host";
  }
  {
    auto r = signed_post();
    r.headers.set("X-Project-Id", "other");
    EXPECT_FALSE(verify_req(r)) << "x-project-id";
  }
  {
    auto r = signed_post();
    r.headers.set("X-Sdk-Date", "20210302T091501Z");
    EXPECT_FALSE(verify_req(r)) << "date";
  }
  {
    auto r = signed_post();
    r.headers.add("X-Project-Id", "second");  // a second value of a signed header
    EXPECT_FALSE(verify_req(r)) << "duplicated signed header";
  }
  {
    auto r = signed_post();
    r.method = "PUT";
    EXPECT_FALSE(verify_req(r)) << "method";
  }
  {
    auto r = signed_post();
    r.path = "/v2/pid/datasetz";
    EXPECT_FALSE(verify_req(r)) << "path";
  }
  {
    auto r = signed_post();
    r.headers.set("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD");  // cannot opt out after signing
    EXPECT_FALSE(verify_req(r)) << "added unsigned-payload";
  }
  {
    auto r = signed_post();
    std::string a = r.headers.get("Authorization");
    char& last = a.back();
    last = last == '0' ? '1' : '0';
    r.headers.set("Authorization", a);
    EXPECT_FALSE(verify_req(r)) << "signature digit";
  }
}

TEST(SignerVerify, TrailingSlashInPathSignsTheSame) {
  auto r = signed_post();
  r.path = "/v2/pid/datasets/";
  EXPECT_TRUE(verify_req(r));
}

TEST(SignerVerify, UnsignedPayloadUsedVerbatim) {
  std::string body = "\x89PNG binary bytes";
  auto r = make_request("PUT", "/v2/pid/objects/img.png", body);
  r.headers.add("Host", "h");
  r.headers.add("X-Sdk-Date", kDate);
  r.headers.add("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD");
  std::string sig = client_signature("PUT", "/v2/pid/objects/img.png/", "", {{"host", "h"}, {"x-sdk-date", kDate}},
                                     "UNSIGNED-PAYLOAD");
  r.headers.add("Authorization", authorization("host;x-sdk-date", sig));
  EXPECT_TRUE(verify_req(r));
  r.body = "entirely different bytes";  // the body is not covered
  EXPECT_TRUE(verify_req(r));

  // A precomputed body hash in the header is used as given too.
  auto r2 = make_request("PUT", "/v2/pid/objects/img.png", body);
  r2.headers.add("Host", "h");
  r2.headers.add("X-Sdk-Date", kDate);
  r2.headers.add("X-Sdk-Content-Sha256", crypto::sha256_hex("the declared content"));
  std::string sig2 = client_signature("PUT", "/v2/pid/objects/img.png/", "", {{"host", "h"}, {"x-sdk-date", kDate}},
                                      crypto::sha256_hex("the declared content"));
  r2.headers.add("Authorization", authorization("host;x-sdk-date", sig2));
  EXPECT_TRUE(verify_req(r2));
}

TEST(SignerVerify, EmptyBodyHashesEmptyString) {
  auto r = make_request("DELETE", "/v2/pid/datasets/ds1");
  r.headers.add("Host", "h");
  r.headers.add("X-Sdk-Date", kDate);
  std::string sig = client_signature("DELETE", "/v2/pid/datasets/ds1/", "", {{"host", "h"}, {"x-sdk-date", kDate}},
                                     kEmptyHash);
  r.headers.add("Authorization", authorization("host;x-sdk-date", sig));
  EXPECT_TRUE(verify_req(r));
  // A GET with body "{}" (the IAM SDK does this) hashes what was received.
  auto g = make_request("GET", "/v3/projects?name=cn-north-4", "{}");
  g.headers.add("Host", "h");
  g.headers.add("X-Sdk-Date", kDate);
  std::string gsig = client_signature("GET", "/v3/projects/", "name=cn-north-4", {{"host", "h"}, {"x-sdk-date", kDate}},
                                      crypto::sha256_hex("{}"));
  g.headers.add("Authorization", authorization("host;x-sdk-date", gsig));
  EXPECT_TRUE(verify_req(g));
}

TEST(SignerVerify, UnsortedQueryStillVerifies) {
  // Node clients send parameters in insertion order; the signature is over the sorted form.
  auto r = make_request("GET", "/v2/pid/datasets?offset=0&limit=10&name=a%20b");
  r.headers.add("Host", "h");
  r.headers.add("X-Sdk-Date", kDate);
  std::string sig = client_signature("GET", "/v2/pid/datasets/", "limit=10&name=a%20b&offset=0",
                                     {{"host", "h"}, {"x-sdk-date", kDate}}, kEmptyHash);
  r.headers.add("Authorization", authorization("host;x-sdk-date", sig));
  EXPECT_TRUE(verify_req(r));
}

TEST(SignerVerify, LowerCasedKeyVariant) {
  auto r = make_request("GET", "/v1/pid/training-jobs?sortBy=create_time&order=desc");
  r.headers.add("Host", "h");
  r.headers.add("X-Sdk-Date", kDate);
  // Go SDK: keys lower-cased before sorting.
  std::string go = client_signature("GET", "/v1/pid/training-jobs/", "order=desc&sortby=create_time",
                                    {{"host", "h"}, {"x-sdk-date", kDate}}, kEmptyHash);
  r.headers.add("Authorization", authorization("host;x-sdk-date", go));
  EXPECT_TRUE(verify_req(r));
  // Python SDK: keys as sent.
  std::string py = client_signature("GET", "/v1/pid/training-jobs/", "order=desc&sortBy=create_time",
                                    {{"host", "h"}, {"x-sdk-date", kDate}}, kEmptyHash);
  r.headers.set("Authorization", authorization("host;x-sdk-date", py));
  EXPECT_TRUE(verify_req(r));
  // Upper-cased keys are neither.
  std::string up = client_signature("GET", "/v1/pid/training-jobs/", "ORDER=desc&SORTBY=create_time",
                                    {{"host", "h"}, {"x-sdk-date", kDate}}, kEmptyHash);
  r.headers.set("Authorization", authorization("host;x-sdk-date", up));
  EXPECT_FALSE(verify_req(r));
}

TEST(SignerVerify, EncodedPathSegments) {
  // A label name with a space, a UTF-8 character and an encoded '/'.
  auto r = make_request("DELETE", "/v2/pid/labels/a%20%E7%8C%AB%2Fx");
  r.headers.add("Host", "h");
  r.headers.add("X-Sdk-Date", kDate);
  std::string sig = client_signature("DELETE", "/v2/pid/labels/a%20%E7%8C%AB/x/", "",
                                     {{"host", "h"}, {"x-sdk-date", kDate}}, kEmptyHash);
  r.headers.add("Authorization", authorization("host;x-sdk-date", sig));
  EXPECT_TRUE(verify_req(r));
  r.path = "/v2/pid/labels/a%20%E7%8C%AB%2";  // malformed escape: never verifies
  EXPECT_FALSE(verify_req(r));
}

TEST(SignerVerify, SignedHeaderOrderFromAuthorization) {
  // Python signs user-agent; the server must take the list from the header.
  auto r = make_request("GET", "/v3/projects?name=cn-north-4");
  r.headers.add("Host", "iam.local");
  r.headers.add("User-Agent", "huaweicloud-usdk-python/3.0");
  r.headers.add("X-Sdk-Date", kDate);
  std::string sig = client_signature("GET", "/v3/projects/", "name=cn-north-4",
                                     {{"host", "iam.local"},
                                      {"user-agent", "huaweicloud-usdk-python/3.0"},
                                      {"x-sdk-date", kDate}},
                                     kEmptyHash);
  r.headers.add("Authorization", authorization("host;user-agent;x-sdk-date", sig));
  EXPECT_TRUE(verify_req(r));
  r.headers.set("User-Agent", "curl/8.0");
  EXPECT_FALSE(verify_req(r));
}
