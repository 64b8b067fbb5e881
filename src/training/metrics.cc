#include "training/metrics.h"

#include <array>
#include <cmath>
#include <cstring>

#include "common/json.h"

namespace atelier::training {

namespace {

const std::array<uint32_t, 256>& crc_table() {
  static const std::array<uint32_t, 256> t = [] {
    std::array<uint32_t, 256> a{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // Castagnoli, reflected
      a[i] = c;
    }
    return a;
  }();
  return t;
}

uint64_t le64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint32_t le32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// A minimal protobuf reader: fields of one message.
struct Proto {
  std::string_view d;
  size_t i = 0;
  bool ok = true;
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= d.size()) return ok = false;
      unsigned char b = static_cast<unsigned char>(d[i++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return ok = false;
  }
  // Next field: number, wire type, and for length-delimited / fixed fields the bytes.
  bool next(uint32_t& field, uint32_t& wire, uint64_t& num, std::string_view& bytes) {
    if (i >= d.size()) return false;
    uint64_t key;
    if (!varint(key)) return false;
    field = uint32_t(key >> 3);
    wire = uint32_t(key & 7);
    switch (wire) {
      case 0: return varint(num);
      case 1:
        if (i + 8 > d.size()) return ok = false;
        bytes = d.substr(i, 8), i += 8;
        return true;
      case 2: {
        uint64_t len;
        if (!varint(len) || len > d.size() - i) return ok = false;
        bytes = d.substr(i, size_t(len)), i += size_t(len);
        return true;
      }
      case 5:
        if (i + 4 > d.size()) return ok = false;
        bytes = d.substr(i, 4), i += 4;
        return true;
      default: return ok = false;
    }
  }
};

double f64(std::string_view b) {
  uint64_t v = le64(b.data());
  double d;
  std::memcpy(&d, &v, 8);
  return d;
}
float f32(std::string_view b) {
  uint32_t v = le32(b.data());
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}

// TensorProto (newer writers put scalars in a tensor): float_val (5),
// double_val (6), or tensor_content (4) of one float/double (dtype 1 / 2).
bool tensor_scalar(std::string_view t, double& out) {
  Proto p{t};
  uint32_t f, w;
  uint64_t n;
  std::string_view b;
  int64_t dtype = 1;
  std::string_view content;
  while (p.next(f, w, n, b)) {
    if (f == 1 && w == 0) dtype = int64_t(n);
    if (f == 4 && w == 2) content = b;
    if (f == 5 && w == 5) return out = f32(b), true;
    if (f == 5 && w == 2 && b.size() >= 4) return out = f32(b.substr(0, 4)), true;  // packed
    if (f == 6 && w == 1) return out = f64(b), true;
    if (f == 6 && w == 2 && b.size() >= 8) return out = f64(b.substr(0, 8)), true;
  }
  if (dtype == 1 && content.size() == 4) return out = f32(content), true;
  if (dtype == 2 && content.size() == 8) return out = f64(content), true;
  return false;
}

void warn(ReadResult& r, std::string w) {
  if (r.warnings.size() < 5) r.warnings.push_back(std::move(w));
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = crc_table()[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(std::string_view data) {
  uint32_t c = crc32c(data);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

ReadResult read_tfevents(std::string_view data, std::vector<Scalar>& out) {
  ReadResult r;
  size_t pos = 0;
  while (data.size() - pos >= 12) {
    uint64_t len = le64(data.data() + pos);
    if (masked_crc32c(data.substr(pos, 8)) != le32(data.data() + pos + 8)) {
      // The length itself is damaged: nothing after it can be framed.
      warn(r, "record at byte " + std::to_string(pos) + ": damaged length; the rest of the file is skipped");
      ++r.skipped;
      r.end = data.size();
      return r;
    }
    if (len > data.size() - pos - 12 || data.size() - pos - 12 - len < 4) break;  // cut short: the writer is not done
    std::string_view payload = data.substr(pos + 12, size_t(len));
    uint32_t crc = le32(data.data() + pos + 12 + len);
    pos += 12 + size_t(len) + 4;
    r.end = pos;
    if (masked_crc32c(payload) != crc) {
      warn(r, "record ending at byte " + std::to_string(pos) + ": CRC mismatch, skipped");
      ++r.skipped;
      continue;
    }
    ++r.records;
    // Event: wall_time (1, double), step (2, int64), summary (5).
    Proto ev{payload};
    uint32_t f, w;
    uint64_t n;
    std::string_view b;
    double wall = 0;
    int64_t step = 0;
    std::vector<std::string_view> summaries;
    while (ev.next(f, w, n, b)) {
      if (f == 1 && w == 1) wall = f64(b);
      if (f == 2 && w == 0) step = int64_t(n);
      if (f == 5 && w == 2) summaries.push_back(b);
    }
    if (!ev.ok) {
      warn(r, "record ending at byte " + std::to_string(pos) + ": not an Event, skipped");
      ++r.skipped;
      continue;
    }
    for (auto sum : summaries) {
      // Summary: repeated Value (1): tag (1), simple_value (2, float), tensor (8).
      Proto sp{sum};
      while (sp.next(f, w, n, b)) {
        if (f != 1 || w != 2) continue;
        Proto vp{b};
        uint32_t vf, vw;
        uint64_t vn;
        std::string_view vb;
        Scalar s;
        s.step = step;
        s.wall_time = wall;
        bool has = false;
        while (vp.next(vf, vw, vn, vb)) {
          if (vf == 1 && vw == 2) s.tag = std::string(vb);
          if (vf == 2 && vw == 5) s.value = f32(vb), has = true;
          if (vf == 8 && vw == 2 && !has) has = tensor_scalar(vb, s.value);
        }
        if (has && !s.tag.empty()) out.push_back(std::move(s));
      }
    }
  }
  return r;
}

ReadResult read_jsonl(std::string_view data, std::vector<Scalar>& out) {
  ReadResult r;
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) break;  // the last line is not complete yet
    std::string_view line = data.substr(pos, nl - pos);
    pos = nl + 1;
    r.end = pos;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json j = parse_json_limited(line);
    if (!j.is_object()) {
      warn(r, "line " + std::to_string(line_no) + ": not a JSON object, skipped");
      ++r.skipped;
      continue;
    }
    ++r.records;
    int64_t step = j.contains("step") && j["step"].is_number() ? j["step"].get<int64_t>() : line_no;
    double wall = j.contains("wall_time") && j["wall_time"].is_number() ? j["wall_time"].get<double>()
                  : j.contains("time") && j["time"].is_number()        ? j["time"].get<double>()
                                                                        : 0;
    if (j.contains("tag") && j["tag"].is_string() && j.contains("value") && j["value"].is_number()) {
      out.push_back({j["tag"].get<std::string>(), step, wall, j["value"].get<double>()});
      continue;
    }
    for (auto& [k, v] : j.items())
      if (v.is_number() && k != "step" && k != "wall_time" && k != "time" && k != "epoch")
        out.push_back({k, step, wall, v.get<double>()});
  }
  return r;
}

std::string tfevents_record(const Scalar& s) {
  auto varint = [](std::string& o, uint64_t v) {
    while (v >= 0x80) o.push_back(char((v & 0x7f) | 0x80)), v >>= 7;
    o.push_back(char(v));
  };
  auto bytes = [&](std::string& o, uint32_t field, const std::string& b) {
    varint(o, (uint64_t(field) << 3) | 2);
    varint(o, b.size());
    o += b;
  };
  std::string value, summary, event;
  bytes(value, 1, s.tag);
  value.push_back(char((2 << 3) | 5));
  float f = float(s.value);
  char fb[4];
  std::memcpy(fb, &f, 4);
  value.append(fb, 4);
  bytes(summary, 1, value);
  event.push_back(char((1 << 3) | 1));
  char db[8];
  std::memcpy(db, &s.wall_time, 8);
  event.append(db, 8);
  varint(event, (2 << 3) | 0);
  varint(event, uint64_t(s.step));
  bytes(event, 5, summary);
  std::string rec, len(8, '\0');
  for (int i = 0; i < 8; ++i) len[size_t(i)] = char((uint64_t(event.size()) >> (8 * i)) & 0xff);
  auto u32 = [](uint32_t v) {
    std::string o(4, '\0');
    for (int i = 0; i < 4; ++i) o[size_t(i)] = char((v >> (8 * i)) & 0xff);
    return o;
  };
  rec = len + u32(masked_crc32c(len)) + event + u32(masked_crc32c(event));
  return rec;
}

}  // namespace atelier::training
