// Model management v1: models imported from an OBS folder (a
// training job's output, say) into the registry's own storage, so the
// source may change or go without breaking a published model; list with
// filters on name, version, type, status and description, get, delete
// (cascade over a model name's versions).
// Publishing (the copy) runs as a task: publishing -> published | failed.
#pragma once
#include <vector>

#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"
#include "tasks/tasks.h"

namespace atelier::models {

std::vector<store::Migration> migrations();
// `registry`: where published models' files live, apart from any bucket a
// client can name. Registers the publish task on `queue`.
std::vector<http::Route> routes(store::Database& db, obs::ObjectStore& objects, obs::ObjectStore& registry,
                                tasks::Queue& queue);

}  // namespace atelier::models
