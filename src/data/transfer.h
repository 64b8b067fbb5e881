// Import tasks: manifests and OBS folders brought into a dataset
// as resumable background tasks, every batch applied atomically.
#pragma once
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/json.h"
#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"
#include "tasks/tasks.h"

namespace atelier::data {

std::vector<store::Migration> transfer_migrations();

// A page of a listing: every key in (after, last] is one of `keys` (last
// empty: through the end). Files the page shows absent need no lookup.
struct ListedPage {
  std::string after, last;
  std::unordered_set<std::string_view> keys;  // views of the page's keys
  bool may_exist(const std::string& key) const {
    return key <= after || (!last.empty() && key > last) || keys.count(key) > 0;
  }
};

// The annotations a folder layout gives the file `key` under the import root
// `root`: class sub-folder or a .txt beside it for
// classification (0) and sound (200), a VOC .xml beside it for detection (1)
// and segmentation (3, also filling metadata @modelarts:size); none for other
// types. Reads through `scan`, and looks for no file `listed` shows absent.
// Throws ManifestError on an unreadable VOC document.
json folder_annotations(obs::Scanner& scan, const std::string& bucket, const std::string& root,
                        const std::string& key, int type, json& metadata, const ListedPage* listed = nullptr);

}  // namespace atelier::data
