// The engines and resource specs jobs choose from, and the
// built-in algorithms (none).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <regex>

#include "training/training_impl.h"
#include "training/v1_query.h"

namespace atelier::training {

namespace {

// The built-in catalog: engines backed by Debian's packages (plain Python is
// engine 1, the id a create without engine_id gets; its engine_type 0 is not
// one of ModelArts' engine type codes because the service has no such family) and CPU
// flavors.
constexpr const char* kDefaultCatalog = R"JSON({
  "engines": [
    {"engine_id": 1, "engine_type": 0, "engine_name": "Python", "module": ""},
    {"engine_id": 1001, "engine_type": 10, "engine_name": "PyTorch", "module": "torch"},
    {"engine_id": 601, "engine_type": 6, "engine_name": "Scikit Learn", "module": "sklearn"},
    {"engine_id": 901, "engine_type": 9, "engine_name": "XGBoost-Sklearn", "module": "xgboost"}
  ],
  "flavors": [
    {"spec_id": 1, "spec_code": "modelarts.vm.cpu.1u", "cores": 1, "memory_mb": 2048, "storage": "10GB"},
    {"spec_id": 2, "spec_code": "modelarts.vm.cpu.2u", "cores": 2, "memory_mb": 8192, "storage": "20GB"},
    {"spec_id": 3, "spec_code": "modelarts.vm.cpu.half", "cores": 0.5, "memory_mb": 1024, "storage": "5GB"}
  ]
})JSON";

}  // namespace

Catalog parse_catalog(const std::string& text) {
  json j = json::parse(text.empty() ? std::string(kDefaultCatalog) : text, nullptr, false);
  if (!j.is_object()) throw std::runtime_error("train_catalog is not a JSON object");
  Catalog c;
  try {
    for (auto& e : j.value("engines", json::array())) {
      Engine x;
      x.id = e.at("engine_id").get<int64_t>();
      x.type = e.value("engine_type", 0);
      x.name = e.at("engine_name").get<std::string>();
      x.version = e.value("engine_version", "");
      x.module = e.value("module", "");
      c.engines.push_back(x);
    }
    for (auto& f : j.value("flavors", json::array())) {
      Flavor x;
      x.id = f.at("spec_id").get<int64_t>();
      x.code = f.at("spec_code").get<std::string>();
      x.cores = f.value("cores", 1.0);
      x.memory_mb = f.value("memory_mb", int64_t(1024));
      x.gpu_num = f.value("gpu_num", 0);
      x.gpu_type = f.value("gpu_type", "");
      x.storage = f.value("storage", "");
      if (x.cores <= 0 || x.memory_mb <= 0) throw std::runtime_error("flavor " + x.code + " needs cores and memory_mb > 0");
      c.flavors.push_back(x);
    }
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("train_catalog: ") + e.what());
  }
  return c;
}

// Asks the interpreter which engine modules are installed (without importing
// them: find_spec only) and their versions.
void probe_engines(Catalog& c, const std::string& python) {
  std::string mods;
  for (auto& e : c.engines)
    if (!e.module.empty()) mods += (mods.empty() ? "'" : ",'") + e.module + "'";
  std::string script =
      "import importlib.util, importlib.metadata as m, json, sys\n"
      "dist = {'sklearn': 'scikit-learn'}\n"
      "out = {'python': '%d.%d' % sys.version_info[:2]}\n"
      "for mod in [" + mods + "]:\n"
      "    try:\n"
      "        if importlib.util.find_spec(mod) is None: continue\n"
      "        try: out[mod] = m.version(dist.get(mod, mod))\n"
      "        except Exception: out[mod] = ''\n"
      "    except Exception: pass\n"
      "print(json.dumps(out))\n";
  json found;
  if (::access(python.c_str(), X_OK) == 0) {
    std::string cmd = python + " -I -c \"" + std::regex_replace(script, std::regex("\""), "\\\"") + "\" 2>/dev/null";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      std::string outp;
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, p)) > 0) outp.append(buf, n);
      ::pclose(p);
      found = json::parse(outp, nullptr, false);
    }
  }
  std::string py = found.is_object() ? found.value("python", "") : "";
  for (auto& e : c.engines) {
    if (py.empty()) {
      e.available = false;
      e.why = "the interpreter " + python + " cannot be run";
    } else if (!e.module.empty() && !found.contains(e.module)) {
      e.available = false;
      e.why = "the Python module '" + e.module + "' is not installed for " + python;
    } else {
      e.available = true;
    }
    if (e.version.empty()) {
      std::string v = e.module.empty() ? "" : (found.is_object() ? found.value(e.module, "") : "");
      auto plus = v.find('+');
      if (plus != std::string::npos) v.resize(plus);  // 1.13.1+dfsg -> 1.13.1
      std::string base = e.name;
      std::replace(base.begin(), base.end(), ' ', '_');
      e.version = (e.module.empty() ? "python" + (py.empty() ? std::string("3") : py) : base + "-" + (v.empty() ? "unknown" : v) +
                                                                                             "-python" + (py.empty() ? "3" : py));
    }
  }
}

Service::Impl::Impl(store::Database& d, obs::ObjectStore& o, std::unique_ptr<runtime::JobRunner> r, Settings s)
    : db(d), objects(o), runner(std::move(r)), settings(std::move(s)) {
  catalog = parse_catalog(settings.catalog);
  if (settings.cores <= 0) settings.cores = std::max(1u, std::thread::hardware_concurrency());
  if (settings.memory_mb <= 0) {
    long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    settings.memory_mb = pages > 0 && page > 0 ? int64_t(pages) * page / (1 << 20) * 3 / 4 : 4096;
  }
}

const Catalog& Service::Impl::engines() {
  std::lock_guard lk(catalog_mu);
  if (!probed) {
    probe_engines(catalog, settings.python);
    probed = true;
  }
  return catalog;
}

// The engine and spec fields of a config, for versions and configs.
void Service::Impl::engine_fields(json& j, const json& cfg) {
  if (auto* e = engines().engine(cfg.value("engine_id", int64_t(0)))) {
    j["engine_type"] = e->type;
    j["engine_name"] = e->name;
    j["engine_version"] = e->version;
  }
  j["engine_id"] = cfg.value("engine_id", int64_t(0));
  if (auto* f = catalog.flavor(cfg.value("spec_id", int64_t(0)))) {
    j["spec_code"] = f->code;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", f->cores);
    j["core"] = buf;
    std::snprintf(buf, sizeof buf, "%g", double(f->memory_mb) / 1024);
    j["cpu"] = buf;
    j["gpu_num"] = f->gpu_num;
    j["gpu_type"] = f->gpu_type;
  }
}

Response Service::Impl::list_algorithms(Context& ctx) {
  query_int(ctx, "per_page", 10, 1, 100);
  query_int(ctx, "page", 1, 1, 65535);
  // This server ships no built-in algorithms: jobs run the user's code.
  return ok({{"model_total_count", 0}, {"models", json::array()}});
}

Response Service::Impl::list_engines(Context& ctx) {
  std::string type = query(ctx, "job_type").value_or("train");
  if (type != "train" && type != "inference") throw bad_request("job_type must be train or inference");
  json list = json::array();
  for (auto& e : engines().engines) {
    json j = {{"engine_type", e.type}, {"engine_name", e.name}, {"engine_id", e.id},
              {"engine_version", e.version}, {"available", e.available}};
    if (!e.available) j["unavailable_reason"] = e.why;
    list.push_back(j);
  }
  return ok({{"engines", list}});
}

Response Service::Impl::list_specs(Context& ctx) {
  std::string type = query(ctx, "job_type").value_or("train");
  if (type != "train" && type != "inference") throw bad_request("job_type must be train or inference");
  query_int(ctx, "engine_id", 0, 0, INT64_C(999999999));
  query_int(ctx, "project_type", 0, 0, 3);
  // What is free now: the cluster's idle resources, or the configured capacity less the running jobs.
  runtime::Capacity idle{settings.cores, settings.memory_mb};
  if (runner->has_queue()) {
    idle = runner->free().value_or(runtime::Capacity{});
  } else {
    auto [c, m] = used();
    idle.cores -= c;
    idle.memory_mb -= m;
  }
  int max_num = runner->max_nodes();
  json list = json::array();
  for (auto& f : catalog.flavors) {
    json j = {{"spec_id", f.id}, {"spec_code", f.code}, {"gpu_num", f.gpu_num}, {"gpu_type", f.gpu_type},
              {"max_num", max_num}, {"unit_num", 1}, {"storage", f.storage}, {"interface_type", 1},
              {"no_resource", f.cores > idle.cores + 1e-9 || f.memory_mb > idle.memory_mb}};
    engine_fields(j, {{"spec_id", f.id}});
    for (const char* k : {"engine_id", "spec_code"}) j.erase(k);
    j["spec_code"] = f.code;
    list.push_back(j);
  }
  return ok({{"spec_total_count", list.size()}, {"specs", list}});
}

}  // namespace atelier::training
