#include "app/bucket_owners.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "common/json.h"

namespace atelier::app {

namespace {

// bucket -> account -> the resources of that account using it.
using Uses = std::map<std::string, std::map<std::string, std::set<std::string>>>;

void use(Uses& uses, const std::string& domain, const std::string& path, const std::string& resource) {
  try {
    uses[obs::parse_location(path).bucket][domain].insert(resource);
  } catch (const ApiError&) {  // not a path (an empty optional field)
  }
}

// Every string value of a stored JSON document that reads as an object path.
void use_json(Uses& uses, const std::string& domain, const std::string& text, const std::string& resource) {
  json doc = json::parse(text, nullptr, false);
  std::vector<const json*> todo{&doc};
  while (!todo.empty()) {
    const json* j = todo.back();
    todo.pop_back();
    if (j->is_string()) {
      const auto& s = j->get_ref<const std::string&>();
      if (s.starts_with("/") || s.starts_with("obs://") || s.starts_with("s3://")) use(uses, domain, s, resource);
    } else if (j->is_structured()) {
      for (const auto& child : *j) todo.push_back(&child);
    }
  }
}

Uses collect_uses(store::Database& db) {
  Uses uses;
  const std::string domain = "(SELECT domain_id FROM iam_projects p WHERE p.id = x.project_id) AS domain_id";
  for (auto& r : db.query("SELECT x.id, x.name, x.work_path, x.data_sources, " + domain + " FROM datasets x")) {
    std::string what = "dataset " + r.str("name") + " (" + r.str("id") + ")";
    use(uses, r.str("domain_id"), r.str("work_path"), what);
    use_json(uses, r.str("domain_id"), r.str("data_sources"), what);
  }
  for (auto& r : db.query("SELECT DISTINCT d.id, d.name, s.dir, (SELECT domain_id FROM iam_projects p WHERE p.id = "
                          "d.project_id) AS domain_id FROM samples s JOIN datasets d ON d.id = s.dataset_id"))
    use(uses, r.str("domain_id"), r.str("dir"), "samples of dataset " + r.str("name") + " (" + r.str("id") + ")");
  for (auto& r : db.query("SELECT x.id, x.name, x.config, " + domain + " FROM train_versions x"))
    use_json(uses, r.str("domain_id"), r.str("config"), "training version " + r.str("name") + " (" + r.str("id") + ")");
  for (auto& r : db.query("SELECT x.name, x.config, " + domain + " FROM train_configs x"))
    use_json(uses, r.str("domain_id"), r.str("config"), "training config " + r.str("name"));
  for (auto& r : db.query("SELECT x.id, x.name, x.train_url, " + domain + " FROM viz_jobs x"))
    use(uses, r.str("domain_id"), r.str("train_url"), "visualization job " + r.str("name") + " (" + r.str("id") + ")");
  for (auto& r : db.query("SELECT x.id, x.name, x.source_location, x.domain_id FROM models x"))
    use(uses, r.str("domain_id"), r.str("source_location"), "model " + r.str("name") + " (" + r.str("id") + ")");
  for (auto& r : db.query("SELECT x.id, x.kind, x.params, " + domain + " FROM tasks x"))
    use_json(uses, r.str("domain_id"), r.str("params"), r.str("kind") + " task " + r.str("id"));
  return uses;
}

std::string describe(const std::map<std::string, std::set<std::string>>& by_domain) {
  std::string out;
  for (auto& [domain, resources] : by_domain) {
    out += (out.empty() ? "" : "; ") + std::string("account ") + domain + ":";
    for (auto& r : resources) out += " " + r;
  }
  return out;
}

}  // namespace

void assign_bucket_owners(store::Database& db, obs::ObjectStore& objects, obs::Buckets& buckets,
                          const std::string& admin_domain) {
  bool done = bool(db.query_one("SELECT 1 FROM bucket_owner_pass"));
  bool disputed = bool(db.query_one("SELECT 1 FROM bucket_owners WHERE domain_id = ?", {std::string(obs::Buckets::kDisputed)}));
  if (done && !disputed) return;
  Uses uses = collect_uses(db);
  if (!done) {
    db.transaction([&] {
      for (const auto& bucket : objects.buckets()) {
        if (buckets.owner(bucket)) continue;
        auto it = uses.find(bucket);
        std::string owner = it == uses.end()          ? admin_domain
                            : it->second.size() == 1 ? it->second.begin()->first
                                                     : std::string(obs::Buckets::kDisputed);
        buckets.set_owner(bucket, owner);
        if (owner != std::string(obs::Buckets::kDisputed))
          spdlog::info("bucket {} now belongs to account {}", bucket, owner);
      }
      db.exec("INSERT INTO bucket_owner_pass (done) VALUES (1)");
    });
  }
  for (const auto& e : buckets.list())
    if (e.owner == obs::Buckets::kDisputed)
      spdlog::warn("bucket {} is used by several accounts and no account may use it until an administrator gives it "
                   "to one (atelier admin bucket-owner --bucket {} --account NAME): {}",
                   e.bucket, e.bucket, describe(uses[e.bucket]));
}

}  // namespace atelier::app
