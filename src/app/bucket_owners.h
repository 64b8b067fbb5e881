// Owners for the buckets of a data dir from before buckets had owners.
#pragma once
#include <string>

#include "obs/buckets.h"
#include "obs/object_store.h"
#include "store/db.h"

namespace atelier::app {

// Once per data dir: every existing bucket without an owner gets one. A
// bucket the resources (datasets, samples, training jobs and configs,
// visualization jobs, models, import and export tasks) of one account use
// becomes that account's; a bucket no resource uses becomes the
// administrator's account's (`admin_domain`), so no other account can claim
// files already there; a bucket several accounts use is left to the
// administrator: no account may use it until `atelier admin bucket-owner`
// names one, and every start logs it with the resources involved.
void assign_bucket_owners(store::Database& db, obs::ObjectStore& objects, obs::Buckets& buckets,
                          const std::string& admin_domain);

}  // namespace atelier::app
