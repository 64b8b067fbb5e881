// A dataset's label definitions (table dataset_labels): reading one
// from a request, checking its properties, storing new ones, and the set of
// (type, name) pairs a dataset defines.
#pragma once
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "store/db.h"

namespace atelier::data {

struct SampleFacts;

struct LabelDef {
  std::string name;
  int type = 0;
  json property = json::object();
  json attributes = json::array();
};

// Checks a label's property map; `where` names it in errors.
void check_property(const json& prop, int type, const std::string& where);

// Reads a Label object (name, type, property) for a dataset of `dataset_type`.
LabelDef read_label(const JsonIn& in, int dataset_type);

json label_json(const store::Row& r);

std::vector<store::Row> dataset_labels(store::Database& db, const std::string& ds);

// Inserts new label definitions; a duplicate name or shortcut is a 400.
void insert_labels(store::Database& db, const std::string& ds, const std::vector<LabelDef>& labels);

std::set<std::pair<int, std::string>> defined_labels(store::Database& db, const std::string& ds);

// Defines the label names of `labels` that `defined` does not hold yet (a
// new relation label takes its end types from the entities it joins) and
// adds them to `defined`. Throws ApiError, inserting nothing, when a new
// definition is invalid.
void define_labels(store::Database& db, const std::string& ds, int type, const json& labels,
                   std::set<std::pair<int, std::string>>& defined);

// validated_labels, then define_labels.
json adopt_labels(store::Database& db, const std::string& ds, int type, const json& labels, const SampleFacts& facts,
                  std::set<std::pair<int, std::string>>& defined, const std::string& annotated_by);

}  // namespace atelier::data
