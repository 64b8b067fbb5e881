// Resource ids. All are time-ordered (a millisecond timestamp leads, random
// bits follow), so inserts land at the right edge of the primary-key index
// instead of scattering pages; they keep the shapes of the real service.
#pragma once
#include <cstdint>
#include <string>

namespace atelier::ids {

std::string hex32();     // 32 lower-case hex: projects, users, groups, roles...
std::string base62_19(); // 19 chars [0-9A-Za-z]: datasets, versions, tasks...
std::string uuid();      // UUIDv7 with dashes: models, notebooks
// A Long id (legacy training jobs and versions): epoch ms * 1000 + a counter,
// unique in this process and increasing; below 2^53, so JSON clients keep it exact.
int64_t long_id();
std::string access_key();  // 20 upper-case alphanumerics (not time-ordered; CSPRNG)
std::string secret_key();  // 40 alphanumerics (CSPRNG: it is a secret)

}  // namespace atelier::ids
