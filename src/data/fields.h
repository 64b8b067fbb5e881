// Checks of request fields that several data routes share (names,
// descriptions, OBS folders), and the one way a path is written back.
#pragma once
#include <cstddef>
#include <string>

#include "common/json.h"
#include "obs/object_store.h"

namespace atelier::data {

// 1-100 characters: letters (any script), digits, '_' and '-'.
void check_name(const JsonIn& in, const char* field, const std::string& v, size_t max);

void check_description(const JsonIn& in, const std::string& v);

// An OBS folder: valid path ending in '/', not a bare bucket.
obs::ObsPath folder_path(const JsonIn& in, const char* field, const std::string& v);

std::string obs_str(const obs::ObsPath& p);

}  // namespace atelier::data
