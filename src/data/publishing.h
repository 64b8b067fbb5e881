// Samples written out as manifests (publishing a version, exporting) and a
// published version's samples read back from its manifest.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "common/json.h"
#include "data/manifest.h"
#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"

namespace atelier::data {

// A sample row as a manifest sample, with its stored usage; text datasets
// get the content (a manifest carries it inline).
ManifestSample manifest_sample(const store::Row& r, obs::ObjectStore& objects, int dataset_type);

// TRAIN or EVAL for a labeled sample: a deterministic split by its id, so the
// same sample always lands on the same side for a given ratio.
std::string split_usage(const std::string& sample_id, double train_ratio);

// clear_hard_property (publish and export): drops the hard-example fields
// of the sample (metadata @modelarts:hard, _coefficient, _reasons) and of
// each of its labels (property @modelarts:hard, _coefficient).
void clear_hard(ManifestSample& m);

// Streams text produced page by page into one object: `next_page` appends
// the next page to its argument and returns false once there is no more.
// Throws 503 when `stopping()` turns true (the task resumes later).
obs::ObjectInfo put_pages(obs::ObjectStore& objects, const obs::ObsPath& p, const std::function<bool(std::string&)>& next_page,
                          const std::function<bool()>& stopping);

// A version's training share, from its publish parameters (1 when it
// has none); nullopt when the stored value is not a ratio.
std::optional<double> version_ratio(const store::Row& v);

// The samples of a published version, read back from its manifest (the
// frozen record; the working copy may have changed since). Filters by
// annotation state, label name and label type; the manifest is scanned in
// order, so deep pages cost a scan of the lines before them.
json list_version_samples(const http::Context& ctx, store::Database& db, obs::ObjectStore& objects, const store::Row& d,
                          const std::string& vid);

}  // namespace atelier::data
