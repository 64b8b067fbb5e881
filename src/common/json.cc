#include "common/json.h"

namespace atelier {

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

namespace {
// nlohmann's DOM builder that stops the parse at a nesting deeper than the
// limit (sax_parse calls these members statically, so hiding works).
class DepthLimitedDom : public nlohmann::detail::json_sax_dom_parser<json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<json>;
  DepthLimitedDom(json& out, size_t limit) : Base(out, /*allow_exceptions=*/false), limit_(limit) {}

  bool start_object(std::size_t n) { return enter() && Base::start_object(n); }
  bool start_array(std::size_t n) { return enter() && Base::start_array(n); }
  bool end_object() { return leave() && Base::end_object(); }
  bool end_array() { return leave() && Base::end_array(); }
  bool too_deep() const { return too_deep_; }

 private:
  bool enter() {
    if (++depth_ <= limit_) return true;
    too_deep_ = true;
    return false;
  }
  bool leave() {
    --depth_;
    return true;
  }

  size_t limit_;
  size_t depth_ = 0;
  bool too_deep_ = false;
};
}  // namespace

json parse_json_limited(std::string_view text, bool* too_deep) {
  json out;
  DepthLimitedDom sax(out, kMaxJsonDepth);
  bool ok = json::sax_parse(text, &sax, json::input_format_t::json, /*strict=*/true) && !sax.is_errored();
  if (too_deep) *too_deep = sax.too_deep();
  if (!ok) return json(json::value_t::discarded);
  return out;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 9;
    if (n == 9 || i + n >= s.size()) return false;
    uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

std::optional<double> parse_ratio(std::string_view s) {
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot), frac = dot == s.npos ? std::string_view() : s.substr(dot + 1);
  auto digits = [](std::string_view d) { return d.find_first_not_of("0123456789") == std::string_view::npos; };
  if (s.empty() || s.size() > 32 || s == "." || !digits(whole) || !digits(frac)) return std::nullopt;
  double d = std::strtod(std::string(s).c_str(), nullptr);
  if (!(d >= 0 && d <= 1)) return std::nullopt;
  return d;
}

json parse_json_body(std::string_view body, bool allow_empty) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    if (allow_empty) return json::object();
    throw bad_request("The request body is empty; a JSON object is required.");
  }
  bool too_deep = false;
  json j = parse_json_limited(body, &too_deep);
  if (too_deep)
    throw bad_request("The request body nests arrays and objects deeper than " + std::to_string(kMaxJsonDepth) +
                      " levels.");
  if (j.is_discarded()) throw bad_request("The request body is not valid JSON.");
  if (!j.is_object()) throw bad_request("The request body must be a JSON object.");
  return j;
}

ApiError FieldErrorFactory::make(const std::string& field, const std::string& problem) const {
  return bad_request("Invalid parameter " + field + ": " + problem);
}

static const FieldErrorFactory kDefaultErrors;

JsonIn::JsonIn(const json& node, std::string path, const FieldErrorFactory* errors)
    : node_(node), path_(std::move(path)), errors_(errors ? errors : &kDefaultErrors) {}

std::string JsonIn::field(const char* key) const {
  return path_.empty() ? std::string(key) : path_ + "." + key;
}

void JsonIn::fail(const char* key, const std::string& problem) const {
  throw errors_->make(field(key), problem);
}

bool JsonIn::has(const char* key) const {
  auto it = node_.find(key);
  return it != node_.end() && !it->is_null();
}

std::optional<std::string> JsonIn::opt_str(const char* key) const {
  if (!has(key)) return std::nullopt;
  const json& v = node_.at(key);
  if (!v.is_string()) fail(key, "must be a string");
  return v.get<std::string>();
}

std::string JsonIn::str(const char* key) const {
  if (!has(key)) fail(key, "is required");
  auto v = opt_str(key);
  if (v->empty()) fail(key, "must not be empty");
  return *v;
}

std::optional<bool> JsonIn::opt_bool(const char* key) const {
  if (!has(key)) return std::nullopt;
  const json& v = node_.at(key);
  if (!v.is_boolean()) fail(key, "must be a boolean");
  return v.get<bool>();
}

std::optional<int64_t> JsonIn::opt_int(const char* key, int64_t min, int64_t max) const {
  if (!has(key)) return std::nullopt;
  const json& v = node_.at(key);
  if (!v.is_number_integer()) fail(key, "must be an integer");
  int64_t n = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)
                  ? INT64_MAX : v.get<int64_t>();
  if (n < min || n > max)
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return n;
}

JsonIn JsonIn::obj(const char* key) const {
  if (!has(key)) fail(key, "is required");
  const json& v = node_.at(key);
  if (!v.is_object()) fail(key, "must be an object");
  return JsonIn(v, field(key), errors_);
}

std::optional<JsonIn> JsonIn::opt_obj(const char* key) const {
  if (!has(key)) return std::nullopt;
  return obj(key);
}

const json& JsonIn::arr(const char* key) const {
  if (!has(key)) fail(key, "is required");
  const json& v = node_.at(key);
  if (!v.is_array()) fail(key, "must be an array");
  return v;
}

std::string JsonIn::enum_str(const char* key, std::initializer_list<std::string_view> allowed) const {
  std::string v = str(key);
  for (auto a : allowed)
    if (v == a) return v;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  fail(key, "must be one of " + list);
}

std::string JsonIn::max_len(const char* key, const std::string& v, size_t n) const {
  if (utf8_length(v) > n) fail(key, "must be at most " + std::to_string(n) + " characters");
  return v;
}

}  // namespace atelier
