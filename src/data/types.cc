#include "data/types.h"

#include <cctype>
#include <map>

namespace atelier::data {

const std::set<int>& label_types_for(int dataset_type) {
  static const std::map<int, std::set<int>> kTypes = [] {
    std::map<int, std::set<int>> m;
    for (int t : kDatasetTypes) m[t] = {t};
    m[102] = {102, 103};
    m[900] = {0, 1, 3, 100, 101, 102, 103, 200, 201, 202, 600};
    return m;
  }();
  static const std::set<int> kNone;
  auto it = kTypes.find(dataset_type);
  return it == kTypes.end() ? kNone : it->second;
}

int sample_type_for(int dataset_type) {
  if (dataset_type < 100) return 0;
  if (dataset_type < 200) return 1;
  if (dataset_type < 300) return 2;
  if (dataset_type == 400) return 4;
  if (dataset_type == 600) return 6;
  return 9;
}

bool is_text_type(int t) { return t == 100 || t == 101 || t == 102; }

bool extension_fits(int dataset_type, const std::string& key) {
  auto dot = key.rfind('.');
  if (key.empty() || key.back() == '/') return false;
  if (dataset_type == 900) return true;
  if (dot == std::string::npos) return false;
  std::string ext = key.substr(dot + 1);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> image = {"jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"};
  static const std::set<std::string> text = {"txt", "csv", "tsv"};
  static const std::set<std::string> audio = {"wav", "mp3", "flac", "ogg", "m4a", "aac", "wma"};
  static const std::set<std::string> video = {"mp4", "avi", "mov", "mkv", "flv", "webm"};
  static const std::set<std::string> table = {"csv"};
  switch (sample_type_for(dataset_type)) {
    case 0: return image.count(ext) > 0;
    case 1: return text.count(ext) > 0;
    case 2: return audio.count(ext) > 0;
    case 4: return table.count(ext) > 0;
    case 6: return video.count(ext) > 0;
    default: return true;
  }
}

}  // namespace atelier::data
