// The catalogue of notebook profiles and flavors, and how the API shows them.
#include <cmath>
#include <filesystem>

#include "notebooks/notebooks_impl.h"

namespace fs = std::filesystem;

namespace atelier::notebooks {

namespace {

bool host_has_gpu() { return fs::exists("/dev/nvidia0"); }

// What this host offers: Debian's Python 3 with the engines the training
// jobs use (PyTorch, scikit-learn, XGBoost); no Python 2. GPU flavors are
// sold out without a GPU.
constexpr const char* kBuiltInCatalog = R"JSON({
 "profiles": [
  {"id": "Multi-Engine 1.0 (python3)-cpu", "flavor_type": "CPU", "description": "multi engine, cpu, python 3 for notebook",
   "category": "Multi-Engine 1.0 (python3)", "image_name": "mul-kernel-cpu-cp3", "image_tag": "debian12"},
  {"id": "Multi-Engine 1.0 (python3)-gpu", "flavor_type": "GPU", "description": "multi engine, gpu, python 3 for notebook",
   "category": "Multi-Engine 1.0 (python3)", "image_name": "mul-kernel-gpu-cp3", "image_tag": "debian12"},
  {"id": "Multi-Engine 2.0 (python3)", "flavor_type": "CPU", "description": "multi engine 2.0, python 3 for notebook",
   "category": "Multi-Engine 2.0 (python3)", "image_name": "mul-kernel-cp3", "image_tag": "debian12"},
  {"id": "Python3", "flavor_type": "CPU", "description": "python 3 for notebook", "category": "Python3",
   "image_name": "python3", "image_tag": "debian12"},
  {"id": "Python3-gpu", "name": "Python3", "flavor_type": "GPU", "description": "python 3, gpu for notebook",
   "category": "Python3", "image_name": "python3-gpu", "image_tag": "debian12"}
 ],
 "flavors": [
  {"name": "modelarts.vm.cpu.free", "type": "CPU", "cpu": 1, "memory_mb": 4096, "free": true, "duration": 3600},
  {"name": "modelarts.vm.cpu.2u", "type": "CPU", "cpu": 2, "memory_mb": 8192},
  {"name": "modelarts.vm.cpu.8u", "type": "CPU", "cpu": 8, "memory_mb": 32768},
  {"name": "modelarts.vm.gpu.free", "type": "GPU", "cpu": 4, "gpu": 1, "gpu_type": "p100", "memory_mb": 32768, "free": true, "duration": 3600},
  {"name": "modelarts.vm.gpu.p100", "type": "GPU", "cpu": 8, "gpu": 1, "gpu_type": "p100", "memory_mb": 65536},
  {"name": "modelarts.bm.gpu.v100NV32", "type": "GPU", "cpu": 8, "gpu": 1, "gpu_type": "v100NV32", "memory_mb": 65536}
 ]
})JSON";

}  // namespace

Catalog parse_catalog(const std::string& text) {
  json j = json::parse(text.empty() ? std::string(kBuiltInCatalog) : text, nullptr, false);
  if (!j.is_object() || !j.contains("profiles") || !j["profiles"].is_array() || !j.contains("flavors") ||
      !j["flavors"].is_array())
    throw std::runtime_error("notebook_catalog must be a JSON object with arrays \"profiles\" and \"flavors\"");
  Catalog c;
  bool gpu = host_has_gpu();
  try {
    for (auto& p : j["profiles"]) {
      Profile x;
      x.id = p.at("id").get<std::string>();
      x.name = p.value("name", x.id);
      x.description = p.value("description", "");
      x.flavor_type = p.value("flavor_type", "CPU");
      x.category = p.value("category", x.id);
      x.image_name = p.value("image_name", "notebook");
      x.image_tag = p.value("image_tag", "latest");
      c.profiles.push_back(std::move(x));
    }
    for (auto& f : j["flavors"]) {
      Flavor x;
      x.name = f.at("name").get<std::string>();
      x.type = f.value("type", "CPU");
      x.cpu = f.value("cpu", 1.0);
      x.gpu = f.value("gpu", 0);
      x.gpu_type = f.value("gpu_type", "");
      x.memory_mb = f.value("memory_mb", int64_t(4096));
      x.free = f.value("free", false);
      x.duration_s = f.value("duration", int64_t(0));
      x.sold_out = x.gpu > 0 && !gpu;
      if (x.cpu <= 0 || x.memory_mb < 256) throw std::runtime_error("flavor " + x.name + ": cpu and memory_mb too small");
      c.flavors.push_back(std::move(x));
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("notebook_catalog: ") + e.what());
  }
  return c;
}

json profile_json(const Profile& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"description", p.description},
          {"de_type", "Notebook"},
          {"flavor_type", p.flavor_type},
          {"provision",
           {{"type", "Docker"},
            {"annotations", {{"category", p.category}, {"type", "system"}}},
            {"spec",
             {{"engine", "CCE"},
              {"params", {{"namespace", "atelier"}, {"image_name", p.image_name}, {"image_tag", p.image_tag}, {"annotations", nullptr}}}}}}}};
}

namespace {

std::string memory_text(int64_t mb) {
  return mb % 1024 == 0 ? std::to_string(mb / 1024) + "GiB" : std::to_string(mb) + "MiB";
}

}  // namespace

json flavor_json(const Flavor& f, int64_t instance_num) {
  json params = {{"CPU", f.cpu == std::floor(f.cpu) ? json(int64_t(f.cpu)) : json(f.cpu)}, {"GPU", f.gpu},
                 {"memory", memory_text(f.memory_mb)}};
  if (!f.gpu_type.empty()) params["gpu_type"] = f.gpu_type;
  json j = {{"name", f.name},
            {"status", f.sold_out ? "soldOut" : "onSale"},
            {"type", f.type},
            {"params", params},
            {"storage_list", {"evs"}},
            {"is_permitted", true},
            {"promo_type", f.free ? "Free" : "NoDiscount"},
            {"instance_num", instance_num},
            {"store_time", -1},
            {"billing_flavor", f.name},
            {"billing_params", 1}};
  if (f.duration_s) j["duration"] = f.duration_s;
  if (f.free && f.sold_out) {
    j["queuing_num"] = 0;
    j["queue_left_time"] = 0;
  }
  return j;
}

}  // namespace atelier::notebooks
