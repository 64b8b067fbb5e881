// Datasets and samples as the API shows them.
#pragma once
#include "common/json.h"
#include "http/router.h"
#include "store/db.h"
#include "tasks/tasks.h"

namespace atelier::data {

json dataset_json(store::Database& db, const store::Row& d, bool with_labels);

// With check_running_task=true: exist_running_task and running_tasks_id from
// the task queue (syncs of the dataset, publishing of its versions).
json with_running_tasks(const http::Context& ctx, store::Database& db, tasks::Queue& queue, const store::Row& d, json j);

// `labels`: false leaves them out (a caller that puts others in their place).
json sample_json(const http::Context& ctx, const store::Row& r, bool labels = true);

// Up to four samples of a dataset as AnnotationFile objects (`file_preview`).
json preview_files(const http::Context& ctx, store::Database& db, const store::Row& d);

}  // namespace atelier::data
