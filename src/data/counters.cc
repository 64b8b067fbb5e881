#include "data/counters.h"

namespace atelier::data {

void bump(store::Database& db, const std::string& ds, const std::string& key, int64_t delta) {
  if (delta == 0) return;
  db.exec("INSERT INTO dataset_counters (dataset_id, key, value) VALUES (?, ?, ?) "
          "ON CONFLICT (dataset_id, key) DO UPDATE SET value = dataset_counters.value + excluded.value",
          {ds, key, delta});
}

std::map<std::string, int64_t> counters(store::Database& db, const std::string& ds) {
  std::map<std::string, int64_t> out;
  for (auto& r : db.query("SELECT key, value FROM dataset_counters WHERE dataset_id = ?", {ds}))
    out[r.str("key")] = r.i64("value");
  return out;
}

std::string label_key(const char* kind, int type, const std::string& name) {
  return std::string(kind) + ":" + std::to_string(type) + ":" + name;
}

}  // namespace atelier::data
