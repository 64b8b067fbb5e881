// The enumerations of data management: dataset types, the label
// types and sample type each allows, the files each takes in, and the
// annotation states of a sample.
#pragma once
#include <set>
#include <string>

namespace atelier::data {

inline const std::set<int> kDatasetTypes = {0, 1, 3, 100, 101, 102, 200, 201, 202, 400, 600, 900};

// Label types a dataset of a type may hold.
const std::set<int>& label_types_for(int dataset_type);

// Sample type (0 image, 1 text, 2 audio, 4 table, 6 video, 9 free format) of a dataset type.
int sample_type_for(int dataset_type);

bool is_text_type(int t);

// File extensions a dataset of a type takes in from its input path.
bool extension_fits(int dataset_type, const std::string& key);

inline constexpr const char* kUnannotated = "UN_ANNOTATION";

inline constexpr const char* kManual = "MANUAL_ANNOTATION";

inline constexpr const char* kAuto = "AUTO_ANNOTATION";

}  // namespace atelier::data
