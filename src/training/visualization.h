// Visualization jobs v1: a job shows the metrics under its
// train_url while it runs, at its service_url, through the server and
// behind its authentication: the built-in viewer (an HTML page with a line
// chart per metric that follows the files, and its JSON) over TensorBoard
// event files and JSON-lines metrics (training/metrics.h), or a TensorBoard
// process per job when the host has one (training/tensorboard.h). A job's auto-stop
// (`schedule`, hours) is applied whenever the job is looked at, so its
// status is right at every read without a timer.
#pragma once
#include <vector>

#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"
#include "training/tensorboard.h"

namespace atelier::training {

// Visualization jobs are a family of their own under training (their own
// routes and tables), beside training::Service.
namespace visualization {
std::vector<store::Migration> migrations();
std::vector<http::Route> routes(store::Database& db, obs::ObjectStore& objects, TensorBoards& boards);
}  // namespace visualization

}  // namespace atelier::training
