// Writing samples in the ModelArts manifest format (manifest-format.md):
// one JSON line per sample; detection and segmentation geometry goes to a
// PASCAL VOC XML file per image that the line points at.
#pragma once
#include <functional>
#include <string>

#include "common/json.h"

namespace atelier::data {

struct ManifestSample {
  std::string id, path;  // path: /bucket/key
  std::string text;      // text datasets: the content (source becomes content://)
  json labels = json::array(), metadata = json::object();
  std::string usage;     // TRAIN | EVAL | TEST | INFERENCE | ""
};

// Builds the manifest line. For detection (1) and segmentation (3) labels it
// calls `write_voc(xml)` with the VOC document and uses the location it returns.
std::string manifest_line(const ManifestSample& s, int dataset_type,
                          const std::function<std::string(const std::string& xml)>& write_voc);

// The VOC XML of a sample's detection or segmentation labels.
std::string voc_xml(const ManifestSample& s, bool segmented);

}  // namespace atelier::data
