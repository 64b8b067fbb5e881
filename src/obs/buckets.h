// Who owns each bucket of the object store. A bucket belongs to one account
// (IAM domain), and only that account's calls may name it; the platform owns
// the buckets of shipped material, which every account may read and none may
// write. A bucket nobody owns is claimed by the first account whose
// authorized call names it (the object store creates buckets implicitly, so
// naming one is creating it).
//
// REQUIRES: the owner table lives in the metadata store, so every server and
// `atelier admin` process on one data dir sees the same owners; a claim is one
// INSERT that only the first claimer wins.
#pragma once
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/db.h"

namespace atelier::obs {

class Buckets {
 public:
  // The owner id of platform buckets (never an account's domain id).
  static constexpr std::string_view kPlatform = "platform";
  // The owner id of a bucket no account may use until an administrator
  // gives it to one (several accounts used it before buckets had owners).
  static constexpr std::string_view kDisputed = "disputed";
  enum class Use { kRead, kWrite };

  explicit Buckets(store::Database& db) : db_(db) {}
  static std::vector<store::Migration> migrations();

  std::optional<std::string> owner(const std::string& bucket);
  // Throws ApiError 403 (ModelArts.4310, naming `field`) unless `domain` may
  // use `bucket` so; an unowned bucket becomes `domain`'s.
  void admit(const std::string& domain, const std::string& bucket, Use use, std::string_view field);
  // Whether `domain` may use `bucket` so, claiming it when nobody owns it
  // (for work that checks paths outside a request, such as manifest lines).
  bool allows(const std::string& domain, const std::string& bucket, Use use);
  // Whether `domain` owns `bucket` (no claim): what removing a file needs.
  bool owns(const std::string& domain, const std::string& bucket) { return owner(bucket) == domain; }
  // Sets the owner whatever it was (administration; platform buckets at start).
  void set_owner(const std::string& bucket, const std::string& domain);
  struct Entry {
    std::string bucket, owner;
    int64_t since_ms = 0;
  };
  std::vector<Entry> list();
  // The buckets `domain` owns, by name.
  std::vector<Entry> owned_by(const std::string& domain);
  // Frees the name of a deleted bucket, if `domain` owns it.
  void release(const std::string& bucket, const std::string& domain);

 private:
  store::Database& db_;
};

// One account's view for work outside a request that meets many paths (the
// lines of an import): answers are remembered for the scope's life, so a
// bucket costs one lookup. Safe to share between threads.
class BucketScope {
 public:
  BucketScope(Buckets& buckets, std::string domain) : buckets_(buckets), domain_(std::move(domain)) {}
  bool allows(const std::string& bucket, Buckets::Use use);

 private:
  Buckets& buckets_;
  const std::string domain_;
  std::mutex mu_;
  std::map<std::pair<std::string, Buckets::Use>, bool> known_;
};

}  // namespace atelier::obs
