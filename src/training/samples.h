// The sample training jobs the server ships (python/samples, compiled in):
// the code and data the sample training-job configs name, kept in the
// platform's bucket `samples`, which every account may read and none may
// write (obs/buckets.h).
#pragma once
#include <string_view>
#include <vector>

#include "obs/buckets.h"
#include "obs/object_store.h"

namespace atelier::training {

inline constexpr std::string_view kSamplesBucket = "samples";

struct SampleFile {
  std::string_view path;  // inside the bucket, e.g. "sklearn/code/train.py"
  std::string_view content;
};
const std::vector<SampleFile>& sample_files();

// Makes the bucket the platform's and writes every file that differs from
// the shipped one. Returns false, changing nothing, when an account already
// owns the bucket (a data dir from before bucket owners); the caller says so.
bool install_samples(obs::ObjectStore& objects, obs::Buckets& buckets);

}  // namespace atelier::training
