// Import tasks (spec §1.8): manifests and OBS folders brought into a dataset
// as resumable background tasks, every batch applied atomically.
#pragma once
#include <vector>

#include "common/json.h"
#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"
#include "tasks/tasks.h"

namespace atelier::data {

std::vector<store::Migration> transfer_migrations();

// The annotations a folder layout gives the file `key` under the import root
// `root` (manifest-format.md §3): class sub-folder or a .txt beside it for
// classification (0) and sound (200), a VOC .xml beside it for detection (1)
// and segmentation (3, also filling metadata @modelarts:size); none for other
// types. Reads through `scan`. Throws ManifestError on an unreadable VOC document.
json folder_annotations(obs::Scanner& scan, const std::string& bucket, const std::string& root,
                        const std::string& key, int type, json& metadata);
// Registers the import task kind on `runner` as well.
std::vector<http::Route> transfer_routes(store::Database& db, obs::ObjectStore& objects, tasks::Runner& runner);

}  // namespace atelier::data
