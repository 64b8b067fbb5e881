// Signed streaming uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): the
// aws-chunked framing and the chained chunk signatures.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/crypto.h"
#include "s3/auth.h"

namespace atelier::s3 {

namespace {

constexpr size_t kMaxHeaderLine = 4096;
constexpr std::string_view kSigPrefix = ";chunk-signature=";

S3Error malformed(const std::string& what) { return {400, "InvalidRequest", "Malformed aws-chunked body: " + what}; }

const std::string& empty_sha256() {
  static const std::string h = crypto::sha256_hex("");
  return h;
}

}  // namespace

ChunkVerifier::ChunkVerifier(ChunkSigning signing) : signing_(std::move(signing)), previous_(signing_.seed_signature) {}

bool ChunkVerifier::verify(std::string_view data_sha256_hex, std::string_view signature) {
  std::string sts = "AWS4-HMAC-SHA256-PAYLOAD\n" + signing_.amz_date + "\n" + signing_.scope + "\n" + previous_ +
                    "\n" + empty_sha256() + "\n" + std::string(data_sha256_hex);
  std::string expected = crypto::hex(crypto::hmac_sha256(signing_.signing_key, sts));
  if (!crypto::equal_ct(expected, signature)) return false;
  previous_ = std::move(expected);
  return true;
}

ChunkDecoder::ChunkDecoder(ChunkSigning signing, int64_t decoded_length, Sink sink)
    : verifier_(std::move(signing)), decoded_length_(decoded_length), sink_(std::move(sink)) {}

// "<hex size>;chunk-signature=<64 hex>" (without the CRLF).
void ChunkDecoder::header_line(std::string_view line) {
  size_t semi = line.find(';');
  if (semi == std::string_view::npos || line.substr(semi, kSigPrefix.size()) != kSigPrefix)
    throw malformed("chunk header without chunk-signature");
  std::string_view size = line.substr(0, semi);
  if (size.empty() || size.size() > 15 || !std::all_of(size.begin(), size.end(), [](char c) { return std::isxdigit((unsigned char)c); }))
    throw malformed("bad chunk size");
  remaining_ = std::strtoll(std::string(size).c_str(), nullptr, 16);
  signature_ = std::string(line.substr(semi + kSigPrefix.size()));
  if (signature_.size() != 64) throw malformed("bad chunk signature");
  final_ = remaining_ == 0;
  if (decoded_length_ >= 0 && decoded_ + remaining_ > decoded_length_)
    throw S3Error(400, "InvalidRequest", "The chunks carry more data than x-amz-decoded-content-length");
  if (final_) {
    if (decoded_length_ >= 0 && decoded_ != decoded_length_)
      throw S3Error(400, "IncompleteBody", "The chunks carry less data than x-amz-decoded-content-length");
    end_chunk();
    state_ = State::kFinalCr;
  } else {
    state_ = State::kData;
  }
}

// The current chunk's data is complete: its signature must match.
void ChunkDecoder::end_chunk() {
  if (!verifier_.verify(hash_.final_hex(), signature_))
    throw S3Error(403, "SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you provided. Check your key and "
                  "signing method.");
}

void ChunkDecoder::feed(std::string_view in) {
  while (!in.empty()) {
    switch (state_) {
      case State::kHeader: {
        size_t lf = in.find('\n');
        line_.append(in.substr(0, lf == std::string_view::npos ? in.size() : lf + 1));
        in.remove_prefix(lf == std::string_view::npos ? in.size() : lf + 1);
        if (line_.size() > kMaxHeaderLine) throw malformed("chunk header too long");
        if (lf == std::string_view::npos) break;
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r') throw malformed("chunk header not ended by CRLF");
        std::string line = std::move(line_);
        line_.clear();
        header_line(std::string_view(line).substr(0, line.size() - 2));
        break;
      }
      case State::kData: {
        size_t n = size_t(std::min<int64_t>(remaining_, int64_t(in.size())));
        hash_.update(in.substr(0, n));
        sink_(in.substr(0, n));
        decoded_ += int64_t(n);
        remaining_ -= int64_t(n);
        in.remove_prefix(n);
        if (remaining_ == 0) {
          end_chunk();
          state_ = State::kDataCr;
        }
        break;
      }
      case State::kDataCr:
      case State::kFinalCr:
        if (in[0] != '\r') throw malformed("chunk data not followed by CRLF");
        state_ = state_ == State::kDataCr ? State::kDataLf : State::kFinalLf;
        in.remove_prefix(1);
        break;
      case State::kDataLf:
      case State::kFinalLf:
        if (in[0] != '\n') throw malformed("chunk data not followed by CRLF");
        state_ = state_ == State::kDataLf ? State::kHeader : State::kDone;
        in.remove_prefix(1);
        break;
      case State::kDone:
        throw malformed("data after the final chunk");
    }
  }
}

void ChunkDecoder::finish() {
  // The final chunk's closing CRLF is optional; everything before it is not.
  if (state_ == State::kDone || state_ == State::kFinalCr) {
    state_ = State::kDone;
    return;
  }
  throw S3Error(400, "IncompleteBody", "The request body terminated unexpectedly");
}

}  // namespace atelier::s3
