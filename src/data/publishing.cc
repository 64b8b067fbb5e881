#include "data/publishing.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <tuple>

#include "common/crypto.h"
#include "common/error.h"
#include "data/annotation_checks.h"
#include "data/dataset_rows.h"
#include "data/line_reader.h"
#include "data/query_params.h"
#include "data/types.h"

namespace atelier::data {

ManifestSample manifest_sample(const store::Row& r, obs::ObjectStore& objects, int dataset_type) {
  ManifestSample m;
  m.id = r.str("id");
  m.path = r.str("path");
  m.sample_type = int(r.i64("type"));
  m.labels = json::parse(r.str("labels"), nullptr, false);
  m.metadata = json::parse(r.str("metadata"), nullptr, false);
  if (!m.labels.is_array()) m.labels = json::array();
  if (!m.metadata.is_object()) m.metadata = json::object();
  if (is_text_type(dataset_type)) {
    try {
      m.text = objects.get_all(obs::parse_path(m.path)).value_or("");
    } catch (const ApiError&) {
    }
  }
  if (!r.null("usage")) m.usage = r.str("usage");
  return m;
}

std::string split_usage(const std::string& sample_id, double train_ratio) {
  uint64_t h = std::strtoull(crypto::md5_hex(sample_id).substr(0, 8).c_str(), nullptr, 16);
  return double(h % 10000) < train_ratio * 10000 ? "TRAIN" : "EVAL";
}

void clear_hard(ManifestSample& m) {
  for (const char* k : {"@modelarts:hard", "@modelarts:hard_coefficient", "@modelarts:hard_reasons"}) m.metadata.erase(k);
  for (auto& l : m.labels)
    if (l.is_object() && l.contains("property") && l["property"].is_object())
      for (const char* k : {"@modelarts:hard", "@modelarts:hard_coefficient"}) l["property"].erase(k);
}

obs::ObjectInfo put_pages(obs::ObjectStore& objects, const obs::ObsPath& p, const std::function<bool(std::string&)>& next_page,
                          const std::function<bool()>& stopping) {
  std::string pending;
  size_t pos = 0;
  bool end = false;
  return objects.put(p, [&](char* buf, size_t cap) -> size_t {
    while (pos == pending.size() && !end) {
      if (stopping()) throw ApiError(503, "ModelArts.0010", "The server is stopping.");
      pending.clear();
      pos = 0;
      end = !next_page(pending);
    }
    size_t n = std::min(cap, pending.size() - pos);
    std::copy_n(pending.data() + pos, n, buf);
    pos += n;
    return n;
  });
}

std::optional<double> version_ratio(const store::Row& v) {
  json params = json::parse(v.str("params"), nullptr, false);
  if (!params.is_object() || !params.contains("train_evaluate_sample_ratio")) return 1.0;
  const json& r = params["train_evaluate_sample_ratio"];
  return r.is_string() ? parse_ratio(r.get<std::string>()) : std::nullopt;
}

namespace {

// The query of a version's sample listing, read in the order its errors are reported.
struct VersionListing {
  std::string state_filter;  // "", "labeled", "unlabeled" or "none" (nothing matches)
  const std::string* label_name = nullptr;
  std::optional<int> label_type;
  std::string order;
  int64_t skip = 0, limit = 0;

  bool matches(const ManifestSample& m) const {
    bool labeled = !m.labels.empty();
    if (state_filter == "none" || (state_filter == "labeled" && !labeled) || (state_filter == "unlabeled" && labeled)) return false;
    if (label_name || label_type) {
      bool hit = false;
      for (auto& l : m.labels)
        if ((!label_name || label_name_of(l) == *label_name) && (!label_type || label_type_of(l, -1) == *label_type)) hit = true;
      if (!hit) return false;
    }
    return true;
  }
};

VersionListing version_listing(const http::Context& ctx, int type) {
  VersionListing q;
  if (auto st = qp(ctx, "sample_state")) {
    std::string u = *st;
    for (char& c : u) c = char(std::toupper(static_cast<unsigned char>(c)));
    if (u == "__ALL__" || u == "MANUAL_ANNOTATION") q.state_filter = "labeled";
    else if (u == "__NONE__" || u == "UN_ANNOTATION") q.state_filter = "unlabeled";
    else if (u == "AUTO_ANNOTATION" || u == "__AUTO_ANNOTATION__" || (u.size() > 4 && u.rfind("__", 0) == 0)) q.state_filter = "none";
    else throw bad_request("Invalid parameter sample_state: " + *st);
  }
  if (auto t = query_int(ctx, "sample_type"); t && *t != sample_type_for(type)) q.state_filter = "none";
  q.label_name = qp(ctx, "label_name");
  q.label_type = query_int(ctx, "label_type");
  q.order = qp(ctx, "order") ? *qp(ctx, "order") : "desc";
  if (q.order != "asc" && q.order != "desc") throw bad_request("Invalid parameter order: must be asc or desc");
  std::tie(q.skip, q.limit) = page(ctx, 10, 100);
  return q;
}

// A manifest sample as the sample listing shows it; `base` is the samples' URL.
json version_sample_json(const ManifestSample& m, int type, const std::string& base) {
  json j = json::object();
  std::string sname = m.path.empty() ? m.id : m.path.substr(m.path.rfind('/') + 1);
  j["sample_id"] = m.id;
  j["sample_name"] = sname;
  j["sample_type"] = type == 900 && m.sample_type >= 0 ? m.sample_type : sample_type_for(type);
  j["sample_status"] = !m.labels.empty() ? kManual : kUnannotated;
  j["source"] = base + m.id + "/content";
  j["sample_dir"] = m.path.empty() ? "" : m.path.substr(0, m.path.rfind('/') + 1);
  if (!m.text.empty()) j["sample_data"] = json::array({m.text});
  j["labels"] = m.labels;
  j["metadata"] = m.metadata;
  if (!m.usage.empty()) j["sample_usage"] = m.usage;
  return j;
}

// The page of the matches a scan kept: `window` holds them in manifest
// order (for desc only the last skip+limit); desc pages count from the end.
json listing_page(std::deque<json>& window, const VersionListing& q, int64_t total) {
  json list = json::array();
  if (q.order == "asc") {
    for (auto& j : window) list.push_back(std::move(j));
  } else {
    // window holds the last matches in manifest order; newest first, after `skip`.
    int64_t n = int64_t(window.size());
    for (int64_t i = n - 1 - std::min<int64_t>(q.skip, n); i >= 0 && int64_t(list.size()) < q.limit; --i)
      list.push_back(std::move(window[size_t(i)]));
    if (q.skip >= total) list = json::array();
  }
  return list;
}

}  // namespace

json list_version_samples(const http::Context& ctx, store::Database& db, obs::ObjectStore& objects, const store::Row& d,
                          const std::string& vid) {
  auto v = db.query_one("SELECT name, status FROM dataset_versions WHERE id = ? AND dataset_id = ?", {vid, d.str("id")});
  if (!v) throw ApiError(400, "ModelArts.4353", "Dataset version " + vid + " does not exist.");
  if (v->i64("status") != 1)
    throw ApiError(400, "ModelArts.4824", "Dataset version " + vid + " is not in normal status (not published yet).");
  for (const char* k : {"search_conditions", "marker", "high_score", "low_score"})
    if (qp(ctx, k)) throw bad_request(std::string("Invalid parameter ") + k + ": not supported together with version_id");
  int type = int(d.i64("type"));
  VersionListing q = version_listing(ctx, type);

  std::string name = v->str("name");
  auto reader = objects.get(obs::parse_path(inner_work_path(d) + "annotation/" + name + "/" + name + ".manifest"));
  if (!reader) throw ApiError(400, "ModelArts.4824", "The manifest of dataset version " + vid + " is missing.");
  auto read_file = [&objects](const std::string& path) { return objects.get_all(obs::parse_path(path)); };
  std::string base = ctx.base_url() + "/v2/" + ctx.param("project_id") + "/datasets/" + d.str("id") +
                     "/data-annotations/samples/";
  // Matching lines in manifest order; for `desc` the page is counted from the end,
  // so keep only the last skip+limit matches while scanning.
  std::deque<json> window;
  int64_t total = 0;
  LineReader lines(std::move(reader));
  std::string line;
  bool too_long = false;
  while (lines.next(line, too_long)) {
    if (too_long || line.find_first_not_of(" \t") == std::string::npos) continue;
    ManifestSample m;
    try {
      m = parse_manifest_line(line, type, read_file);
    } catch (const ManifestError&) {
      continue;  // we wrote this manifest; a line we cannot read is not a sample
    }
    if (!q.matches(m)) continue;
    ++total;
    if (q.order == "asc" && (total <= q.skip || total > q.skip + q.limit)) continue;
    window.push_back(version_sample_json(m, type, base));
    if (q.order == "desc" && int64_t(window.size()) > q.skip + q.limit) window.pop_front();
  }
  return {{"sample_count", total}, {"samples", listing_page(window, q, total)}};
}

}  // namespace atelier::data
