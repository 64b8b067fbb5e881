#include "app/object_paths.h"

#include <stdexcept>

namespace atelier::app {

namespace {

struct Entry {
  const char* method;
  const char* path;
  std::vector<http::ObjectPathField> fields;
};

constexpr bool R = false, W = true;

// A dataset's input folders are written too (inline uploads land in the
// first; deleting a sample may delete its file), so they are declared W.
// The training config fields are the same in a job's, a version's and a
// stored config's body; a stored config names the paths a job will use.
std::vector<http::ObjectPathField> train_config(const std::string& at) {
  return {{at + "/app_url", R},  {at + "/boot_file_url", R}, {at + "/data_url", R},
          {at + "/data_source/*/data_url", R}, {at + "/train_url", W}, {at + "/log_url", W}};
}

std::vector<Entry> table() {
  return {
      {"POST", "/v2/{project_id}/datasets", {{"/work_path", W}, {"/data_sources/*/data_path", W}}},
      {"POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples", {{"/samples/*/data_source/data_path", R}}},
      {"POST", "/v2/{project_id}/datasets/{dataset_id}/import-tasks", {{"/import_path", R}}},
      {"POST", "/v2/{project_id}/datasets/{dataset_id}/export-tasks",
       {{"/path", W}, {"/export_params/export_new_dataset_work_path", W}}},
      {"POST", "/v1/{project_id}/training-jobs", train_config("/config")},
      {"POST", "/v1/{project_id}/training-jobs/{job_id}/versions", train_config("/config")},
      {"POST", "/v1/{project_id}/training-job-configs", train_config("")},
      {"PUT", "/v1/{project_id}/training-job-configs/{config_name}", train_config("")},
      {"POST", "/v1/{project_id}/visualization-jobs", {{"/train_url", R}}},
      {"POST", "/v1/{project_id}/models", {{"/source_location", R}, {"/execution_code", R}}},
      // Refused today (only evs storage), declared for when OBS storage comes.
      {"POST", "/v1/{project_id}/demanager/instances", {{"/spec/storage/location/path", W}}},
  };
}

}  // namespace

void declare_object_paths(http::Router& router) {
  for (auto& e : table()) {
    http::Route* r = router.find(e.method, e.path);
    if (!r) throw std::logic_error(std::string("object path table: no route ") + e.method + " " + e.path);
    r->object_paths = e.fields;
  }
}

}  // namespace atelier::app
