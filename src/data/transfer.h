// Import tasks (spec §1.8): manifests and OBS folders brought into a dataset
// as resumable background tasks, every batch applied atomically.
#pragma once
#include <vector>

#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"
#include "tasks/tasks.h"

namespace atelier::data {

std::vector<store::Migration> transfer_migrations();
// Registers the import task kind on `runner` as well.
std::vector<http::Route> transfer_routes(store::Database& db, obs::ObjectStore& objects, tasks::Runner& runner);

}  // namespace atelier::data
