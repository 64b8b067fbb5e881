// Whether a sample's annotations fit it:
// reading an annotation's type and name, counting a labels array, and
// validating one annotation or a whole labels array against its sample and
// the dataset's label definitions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "common/json.h"

namespace atelier::data {

struct SampleFacts {
  int dataset_type;
  int64_t text_length;  // text samples
  json metadata;        // for @modelarts:size
};

// The number `v` holds; otherwise 0, with `ok` set to false.
double num(const json& v, bool& ok);

// The most annotations one sample may carry (README, data management).
inline constexpr size_t kMaxLabelsPerSample = 1000;

// An annotation's label type and name as stored; a missing or mistyped
// value reads as `fallback` / "" (checked_labels refuses those from clients).
int label_type_of(const json& l, int fallback);
std::string label_name_of(const json& l);

// Per-label annotation counts of a labels array: (type, name) -> n.
std::map<std::pair<int, std::string>, int64_t> label_counts(const json& labels);

// The integer at `where`, which must lie within [min, max]; otherwise a 400
// naming `where`.
int64_t checked_int(const json& v, int64_t min, int64_t max, const std::string& where);

// Throws a 400 naming `where` when the annotation does not fit its sample.
void check_annotation(const json& l, const SampleFacts& f, const std::string& where,
                      const std::set<std::pair<int, std::string>>& defined, const std::set<std::string>& ids_in_sample);

// Validates a whole labels array of one sample (at most kMaxLabelsPerSample);
// adds ids to annotations lacking one so relations can point at them.
json checked_labels(const json& labels, const SampleFacts& f, const std::string& where,
                    const std::set<std::pair<int, std::string>>& defined, const std::string& annotated_by);

// Validates a sample's imported labels for a dataset of `type` without the
// database: every label type must fit the dataset, and every name counts as
// defined, since define_labels adds the new ones when the sample is written.
// Returns the checked labels (ids, type, annotated_by and create_time
// filled in); throws ApiError.
json validated_labels(int type, const json& labels, const SampleFacts& facts, const std::string& annotated_by);

}  // namespace atelier::data
