// The ModelArts manifest format: one JSON line per
// sample; detection and segmentation geometry goes to a PASCAL VOC XML file
// per image that the line points at. Writing (publish, export) and reading
// (import) are inverses of each other up to what the format cannot carry.
#pragma once
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"

namespace atelier::data {

struct ManifestSample {
  std::string id, path;  // path: /bucket/key ("" for a content:// text sample read back)
  std::string text;      // text datasets: the content (source becomes content://)
  json labels = json::array(), metadata = json::object();
  std::string usage;     // TRAIN | EVAL | TEST | INFERENCE | ""
  int sample_type = -1;  // sample-type (0 image, 1 text, 2 audio, 4 table, 6 video, 9 other); -1 absent
};

// Builds the manifest line; sample-type is written for free-format (900)
// datasets, whose samples differ in kind. For detection (1) and
// segmentation (3) labels it calls `write_voc(xml, suffix)` with the VOC
// document and uses the location it returns; suffix is "" except for the
// second document of a sample with both kinds ("_segmentation"), which the
// caller's file name must tell apart from the first.
// `scheme` prefixes the source's bucket ("obs://" or "s3://", an export's source_type_header).
std::string manifest_line(const ManifestSample& s, int dataset_type,
                          const std::function<std::string(const std::string& xml, std::string_view suffix)>& write_voc,
                          std::string_view scheme = "obs://");

// The VOC XML of a sample's detection or segmentation labels.
std::string voc_xml(const ManifestSample& s, bool segmented);

// ---------------------------------------------------------------- reading

// A manifest line or VOC document that cannot be read. what() starts with
// the offending field, e.g. "annotation[2].property[@modelarts:start_index]: ...".
class ManifestError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Longest manifest line parse_manifest_line accepts, in bytes.
inline constexpr size_t kMaxManifestLine = size_t(1) << 20;

struct VocAnnotation {
  json labels = json::array();  // SampleLabel objects (type 3 if segmented, else 1)
  json size;                    // [width, height, depth]; null when absent or 0x0
};

// Parses a PASCAL VOC document into labels whose property holds
// @modelarts:shape and @modelarts:feature (the object's geometry), plus
// @modelarts:hard ("1" for difficult objects), @modelarts:hard_coefficient
// (a string), the plain <properties> keys (strings) and score from
// <confidence>. Throws ManifestError on malformed XML or UTF-8, a root other than <annotation>, an
// object without name or shape, an unknown shape kind, a missing,
// non-numeric or negative coordinate, an inverted bndbox, a circle with
// r <= 0 or too few points for a polygon/polyline/line.
VocAnnotation parse_voc(std::string_view xml, bool segmented);

// Reads one manifest line: the inverse of manifest_line. `source` may be
// obs://, s3://, s3a:// (any case) or /bucket/key and comes back as path
// /bucket/key; content://<text> (text and free-format datasets only) fills
// `text`. Each annotation becomes SampleLabel objects (name, type, property,
// score, annotated_by, create_time in ms UTC, id); detection and
// segmentation entries read their VOC file through read_file(/bucket/key),
// which returns nullopt when there is no such object. Line-level hard,
// hard-coefficient and hard-reasons ("1-3") become metadata @modelarts:hard
// (1.0/0.0), @modelarts:hard_coefficient (number) and @modelarts:hard_reasons
// (array of integers); `property` keys and any unknown line keys become
// metadata as they are; a VOC <size> fills @modelarts:size when the line has
// none; sample-type fills sample_type. dataset_type decides text_entity's label type (103 in triplet
// datasets and in free-format lines with relations, else 101),
// image_classification's (600 in video datasets, else 0) and whether
// content:// is allowed; whether the
// annotation kinds fit the dataset is left to the caller. Throws
// ManifestError naming the field for any malformed or missing value,
// unknown annotation type or format, unreadable VOC, or a line longer than
// kMaxManifestLine.
ManifestSample parse_manifest_line(
    std::string_view line, int dataset_type,
    const std::function<std::optional<std::string>(const std::string& obs_path)>& read_file);

// ---------------------------------------------------------------- the plain fast path

// A manifest line of the plainest common shapes, read straight to the texts
// its sample row stores: a source (obs://, s3://, s3a:// or /bucket/key)
// with optional usage and annotations that are either PASCAL VOC files of
// bndbox objects (detection datasets, type 1) or image_classification names
// (type 0), each with optional annotated-by and creation-time. The generic
// path (parse_manifest_line, then validated_labels and NewSample::derive)
// builds and frees several JSON trees a line and costs a million-line import
// most of its time; this one builds none.
//
// Anything else -- another key or spelling, an escaped string, a number that
// is not a plain integer, a difficult object, a box outside its image, any
// error at all -- makes it return nullopt, and the caller takes the generic
// path, which words the errors. What it returns equals the generic path's
// result (tests/unit/plain_line_test.cc compares the two) except for the
// random label ids and, without creation-time, the clock reading `now_ms`.
struct PlainLine {
  std::string path;                                  // /bucket/key
  std::string usage;                                 // upper case, "" when absent
  std::string labels_text;                           // the labels array as JSON, keys sorted
  std::string metadata_text;                         // the metadata object as JSON
  std::vector<std::pair<int, std::string>> labels;   // (type, name) of each label, in order
};
std::optional<PlainLine> read_plain_line(
    std::string_view line, int dataset_type, int64_t now_ms,
    const std::function<std::optional<std::string>(const std::string& obs_path)>& read_file);

}  // namespace atelier::data
