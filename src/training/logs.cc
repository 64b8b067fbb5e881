// The logs of a training version: one a worker, read a page of lines at a time.
#include <algorithm>

#include "runtime/job_log.h"
#include "training/training_impl.h"
#include "training/v1_query.h"

namespace atelier::training {

std::vector<std::string> Service::Impl::log_names(const Row& job, const Row& v) {
  json cfg = json::parse(v.str("config"), nullptr, false);
  int n = cfg.is_object() ? cfg.value("worker_server_num", 1) : 1;
  std::vector<std::string> out;
  for (int r = 0; r < n; ++r) out.push_back(log_stem(job) + std::to_string(r));
  return out;
}

Response Service::Impl::log_files(Context& ctx) {
  auto job = job_of(ctx);
  return ok({{"log_file_list", log_names(job, version_of(ctx, job))}});
}

Response Service::Impl::log_lines(Context& ctx) { return ok(log_page(ctx)); }

// aom-log: line numbers are the cursors. No base_line: the newest
// `lines` lines; desc: the lines after base_line; asc: the lines before it.
json Service::Impl::log_page(const Context& ctx) {
  auto job = job_of(ctx);
  auto v = version_of(ctx, job);
  auto file = query(ctx, "log_file");
  if (!file || file->empty()) throw bad_request("log_file is required (a name from log/file-names)");
  auto names = log_names(job, v);
  if (std::find(names.begin(), names.end(), *file) == names.end())
    throw bad_request("log_file '" + file->substr(0, 80) + "' is not a log of this version");
  int64_t lines = query_int(ctx, "lines", 50, 0, 500);
  std::string order = query(ctx, "order").value_or("desc");
  if (order != "asc" && order != "desc") throw bad_request("order must be asc or desc");
  std::optional<uint64_t> base;
  if (auto b = query(ctx, "base_line"); b && !b->empty()) base = uint64_t(parse_long(*b, "base_line"));
  json out = {{"content", ""}, {"lines", 0}, {"start_line", base ? std::to_string(*base) : "0"},
              {"end_line", base ? std::to_string(*base) : "0"}};
  auto reader = runtime::JobLogReader::open(job_dir(v.i64("id")) + "/log/" + *file);
  if (!reader) return out;  // not started yet
  uint64_t first;
  if (!base) {
    uint64_t total = reader->total_lines();
    first = total > uint64_t(lines) ? total - uint64_t(lines) : 0;
  } else if (order == "desc") {
    first = *base;  // 0-based index of line base + 1
  } else {
    uint64_t before = *base > 0 ? *base - 1 : 0;  // lines before line `base`
    first = before > uint64_t(lines) ? before - uint64_t(lines) : 0;
    lines = int64_t(before - first);
  }
  auto page = reader->read(first, uint64_t(lines));
  if (!base && page.lines.empty()) {
    out["start_line"] = out["end_line"] = std::to_string(page.total);
    return out;
  }
  if (page.lines.empty()) return out;
  std::string content;
  for (size_t i = 0; i < page.lines.size(); ++i) {
    if (i) content.push_back('\n');
    content += page.lines[i];
  }
  out["content"] = json(content);
  out["lines"] = page.lines.size();
  out["start_line"] = std::to_string(page.first);
  out["end_line"] = std::to_string(page.first + page.lines.size() - 1);
  return out;
}

}  // namespace atelier::training
