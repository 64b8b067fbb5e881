#include "obs/buckets.h"

#include "common/clock.h"
#include "common/error.h"

namespace atelier::obs {

std::vector<store::Migration> Buckets::migrations() {
  return {{"obs/001_bucket_owners",
           "CREATE TABLE bucket_owners (bucket TEXT PRIMARY KEY, domain_id TEXT NOT NULL, since BIGINT NOT NULL);"
           "CREATE TABLE bucket_owner_pass (done INTEGER NOT NULL)"}};
}

std::optional<std::string> Buckets::owner(const std::string& bucket) {
  auto r = db_.query_one("SELECT domain_id FROM bucket_owners WHERE bucket = ?", {bucket});
  if (!r) return std::nullopt;
  return r->str("domain_id");
}

bool Buckets::allows(const std::string& domain, const std::string& bucket, Use use) {
  auto o = owner(bucket);
  if (!o) {
    db_.exec("INSERT INTO bucket_owners (bucket, domain_id, since) VALUES (?, ?, ?) ON CONFLICT (bucket) DO NOTHING",
             {bucket, domain, clock::now_ms()});
    o = owner(bucket);  // another account may have won the claim meanwhile
  }
  if (*o == domain) return true;
  return *o == kPlatform && use == Use::kRead;
}

void Buckets::admit(const std::string& domain, const std::string& bucket, Use use, std::string_view field) {
  if (allows(domain, bucket, use)) return;
  auto o = owner(bucket);
  std::string why = *o == kPlatform   ? "holds the platform's shipped material and is read-only"
                    : *o == kDisputed ? "was used by several accounts and waits for an administrator to give it to one"
                                      : "belongs to another account";
  throw ApiError(403, "ModelArts.4310", std::string(field) + ": the bucket " + bucket + " " + why + ".");
}

void Buckets::set_owner(const std::string& bucket, const std::string& domain) {
  db_.exec("INSERT INTO bucket_owners (bucket, domain_id, since) VALUES (?, ?, ?) "
           "ON CONFLICT (bucket) DO UPDATE SET domain_id = excluded.domain_id, since = excluded.since",
           {bucket, domain, clock::now_ms()});
}

std::vector<Buckets::Entry> Buckets::list() {
  std::vector<Entry> out;
  for (auto& r : db_.query("SELECT bucket, domain_id, since FROM bucket_owners ORDER BY bucket"))
    out.push_back({r.str("bucket"), r.str("domain_id"), r.i64("since")});
  return out;
}

std::vector<Buckets::Entry> Buckets::owned_by(const std::string& domain) {
  std::vector<Entry> out;
  for (auto& r : db_.query("SELECT bucket, domain_id, since FROM bucket_owners WHERE domain_id = ? ORDER BY bucket",
                           {domain}))
    out.push_back({r.str("bucket"), r.str("domain_id"), r.i64("since")});
  return out;
}

void Buckets::release(const std::string& bucket, const std::string& domain) {
  db_.exec("DELETE FROM bucket_owners WHERE bucket = ? AND domain_id = ?", {bucket, domain});
}

bool BucketScope::allows(const std::string& bucket, Buckets::Use use) {
  std::lock_guard<std::mutex> l(mu_);
  auto [it, fresh] = known_.try_emplace({bucket, use}, false);
  if (fresh) it->second = buckets_.allows(domain_, bucket, use);
  return it->second;
}

}  // namespace atelier::obs
