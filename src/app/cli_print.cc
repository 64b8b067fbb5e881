// The commands that print what the binary knows: `atelier routes` and
// `atelier metrics`.
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <iterator>

#include "app/app.h"
#include "app/cli.h"
#include "training/metrics.h"

namespace atelier::app {

int print_routes(const Config& cfg, bool object_endpoint) {
  spdlog::set_level(spdlog::level::warn);
  App a(cfg, /*memory=*/true);
  std::cout << (object_endpoint ? a.object_endpoint().describe() : a.router().describe()).dump(1) << std::endl;
  return 0;
}

int print_metrics(const std::vector<std::string>& files) {
  json out = json::array();
  for (auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::cerr << "atelier: cannot read " << f << std::endl;
      return 1;
    }
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<training::Scalar> scalars;
    auto r = f.find("tfevents") != std::string::npos ? training::read_tfevents(data, scalars) : training::read_jsonl(data, scalars);
    json list = json::array();
    for (auto& s : scalars) list.push_back({{"tag", s.tag}, {"step", s.step}, {"wall_time", s.wall_time}, {"value", s.value}});
    out.push_back({{"file", f}, {"records", r.records}, {"skipped", r.skipped}, {"warnings", r.warnings}, {"scalars", list}});
  }
  std::cout << out.dump(1) << std::endl;
  return 0;
}

}  // namespace atelier::app
