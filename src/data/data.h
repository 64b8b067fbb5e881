// Data management v2: datasets, labels, samples and manual
// annotation. Every change to samples or labels goes through one place
// (SampleWriter, data/sample_writer.h) that keeps the per-dataset counters — samples per
// state, annotations and samples per label — exact in the same transaction,
// so statistics never count by scanning.
#pragma once
#include <vector>

#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"
#include "tasks/tasks.h"

namespace atelier::data {

std::vector<store::Migration> migrations();
// Registers its task kinds (dataset sync) on `queue` as well.
std::vector<http::Route> routes(store::Database& db, obs::ObjectStore& objects, tasks::Queue& queue);

}  // namespace atelier::data
