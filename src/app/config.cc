#include "app/config.h"

#include <cstdlib>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <vector>

#include "common/json.h"

namespace atelier::app {

namespace {
struct Field {
  const char* name;
  std::function<void(Config&, const std::string&)> set;
};

int64_t to_int(const char* name, const std::string& v) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 0) throw std::runtime_error(std::string("setting ") + name + " must be a non-negative integer, got '" + v + "'");
  return n;
}

std::vector<Field> fields() {
#define S(f) {#f, [](Config& c, const std::string& v) { c.f = v; }}
#define I(f) {#f, [](Config& c, const std::string& v) { c.f = decltype(c.f)(to_int(#f, v)); }}
  return {S(listen), S(obs_listen), S(obs_domain), I(obs_upload_expiry_s), I(obs_threads), S(data_dir), S(region), S(admin_password), S(master_key), S(database), S(object_store),
          S(object_store_tls), S(object_store_ca_file), S(object_store_region), S(object_store_access_key), S(object_store_secret_key), S(log_level), S(log_file),
          I(threads), I(max_body_bytes), I(max_header_bytes), I(read_timeout_ms), I(idle_timeout_ms),
          I(max_connections), I(token_ttl_s), I(max_clock_skew_s), S(runner), S(slurm_partition), S(train_cores), I(train_memory_mb),
          S(train_network), S(train_sandbox), S(train_catalog), S(tensorboard),
          S(notebook_catalog), I(notebook_idle_stop_s), S(notebook_volumes), S(notebook_pools),
          S(public_url), S(smtp_url), S(smtp_user), S(smtp_password), S(smtp_from), S(smtp_starttls)};
#undef S
#undef I
}
}  // namespace

void Config::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read config file " + path);
  json j = json::parse(in, nullptr, false);
  if (!j.is_object()) throw std::runtime_error("config file " + path + " must hold a JSON object");
  auto fs = fields();
  for (auto& [k, v] : j.items()) {
    auto it = std::find_if(fs.begin(), fs.end(), [&](const Field& f) { return k == f.name; });
    if (it == fs.end()) throw std::runtime_error("config file " + path + ": unknown setting '" + k + "'");
    it->set(*this, v.is_string() ? v.get<std::string>() : v.dump());
  }
}

void Config::load_env() {
  for (auto& f : fields()) {
    std::string env = "ATELIER_";
    for (const char* p = f.name; *p; ++p) env.push_back(char(std::toupper(static_cast<unsigned char>(*p))));
    if (const char* v = std::getenv(env.c_str())) f.set(*this, v);
  }
}

void Config::split_listen(const std::string& listen, const char* name, std::string& host, uint16_t& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw std::runtime_error(std::string(name) + " must be HOST:PORT, got '" + listen + "'");
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int64_t p = to_int(name, listen.substr(colon + 1));
  if (p > 65535) throw std::runtime_error(std::string(name) + ": port out of range");
  port = uint16_t(p);
}

}  // namespace atelier::app
