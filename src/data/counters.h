// A dataset's counters (table dataset_counters): samples in all and per
// annotation state, annotations and samples per label, hard examples. They
// are kept exact by SampleWriter, so statistics never count by scanning.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "store/db.h"

namespace atelier::data {

// Adds deltas to a dataset's counters (upsert), inside the caller's transaction.
void bump(store::Database& db, const std::string& ds, const std::string& key, int64_t delta);

std::map<std::string, int64_t> counters(store::Database& db, const std::string& ds);

// The counter of a label: kind "lc" counts its annotations, "ls" the samples carrying it.
std::string label_key(const char* kind, int type, const std::string& name);

}  // namespace atelier::data
