#include "training/samples.h"

namespace atelier::training {

bool install_samples(obs::ObjectStore& objects, obs::Buckets& buckets) {
  const std::string bucket(kSamplesBucket);
  auto owner = buckets.owner(bucket);
  if (owner && *owner != obs::Buckets::kPlatform) return false;
  if (!owner) buckets.set_owner(bucket, std::string(obs::Buckets::kPlatform));
  objects.create_bucket(bucket);
  for (const auto& f : sample_files()) {
    obs::ObsPath p{bucket, std::string(f.path)};
    if (objects.get_all(p) == std::optional<std::string>(std::string(f.content))) continue;
    objects.put(p, f.content);
  }
  return true;
}

}  // namespace atelier::training
