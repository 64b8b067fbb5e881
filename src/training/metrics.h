// Training metrics as scripts write them, for the visualization jobs'
// viewer: TensorBoard event files (TFRecord framing: u64 length, masked
// CRC32C of the length, an Event protobuf, masked CRC32C of the data) with
// scalar summaries, and JSON lines ({"step": 3, "loss": 0.2, ...} or
// {"tag": "loss", "step": 3, "value": 0.2}). Both readers take a byte range
// and return where the last complete record ends, so a viewer can follow a
// file while the job appends to it. Damaged records are skipped with a
// warning, never fatal. Our own reader: TensorBoard is not in Debian.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace atelier::training {

struct Scalar {
  std::string tag;
  int64_t step = 0;
  double wall_time = 0;  // seconds since the epoch (0 when the line gave none)
  double value = 0;
};

struct ReadResult {
  size_t end = 0;  // bytes consumed: the end of the last complete record
  uint64_t records = 0, skipped = 0;
  std::vector<std::string> warnings;  // at most a few
};

uint32_t crc32c(std::string_view data);
uint32_t masked_crc32c(std::string_view data);  // TFRecord's mask: rotate right 15, add 0xa282ead8

// Scalars of the records in data (a whole file, or what follows a previous
// read's end). A record cut short at the end is left for the next read.
ReadResult read_tfevents(std::string_view data, std::vector<Scalar>& out);
ReadResult read_jsonl(std::string_view data, std::vector<Scalar>& out);

// A TFRecord holding one Event with a scalar (for tests and the helper's twin).
std::string tfevents_record(const Scalar& s);

}  // namespace atelier::training
