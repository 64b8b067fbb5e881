// Samples: add (inline or by path), list with filters, get, content, delete, search conditions.
#include "data/api.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "data/annotation_checks.h"
#include "data/counters.h"
#include "data/dataset_rows.h"
#include "data/label_defs.h"
#include "data/manifest.h"
#include "data/publishing.h"
#include "data/query_params.h"
#include "data/render.h"
#include "data/sample_writer.h"
#include "data/search.h"
#include "data/transfer.h"
#include "data/types.h"
#include "iam/iam.h"
#include "obs/buckets.h"

#include <spdlog/spdlog.h>

namespace atelier::data {

namespace {

// A sample of an add_samples request, checked, with its inline content decoded.
struct AddedSample {
  SampleWriter::NewSample s;
  std::string data;  // decoded inline content
  bool upload = false;
};

// An inline sample (`data`, Base64): a file `name` of the upload folder.
void read_inline_sample(const JsonIn& s, int type, const obs::ObsPath& upload_dir, AddedSample& p) {
  std::string name = s.str("name");
  if (name.find('/') != std::string::npos || name == "." || name == ".." || utf8_length(name) > 1024 ||
      name.find_first_of("!<>=&\"'") != std::string::npos)
    s.fail("name", "must be a file name without '/' or any of !<>=&\"'");
  auto data = s.opt_str("data");
  if (!crypto::base64_decode(*data, p.data)) s.fail("data", "must be Base64");
  p.upload = true;
  p.s.path = "/" + upload_dir.bucket + "/" + upload_dir.key + name;
  p.s.name = name;
  p.s.dir = "/" + upload_dir.bucket + "/" + upload_dir.key;
  p.s.size = is_text_type(type) ? int64_t(utf8_length(p.data)) : int64_t(p.data.size());
  p.s.sample_time = clock::now_ms();
}

// A sample that names a file (`data_source.data_path`), with its size and
// time when the file exists; a text sample's size counts characters.
void read_source_sample(const JsonIn& s, obs::ObjectStore& objects, int type, AddedSample& p) {
  auto src = s.obj("data_source");
  std::string path = src.str("data_path");
  auto op = obs::parse_path(path, src.field("data_path"));
  if (op.key.empty() || op.key.back() == '/') src.fail("data_path", "must name a file");
  p.s.path = "/" + op.bucket + "/" + op.key;
  p.s.name = s.opt_str("name").value_or(op.key.substr(op.key.rfind('/') + 1));
  p.s.dir = "/" + op.bucket + "/" + op.key.substr(0, op.key.rfind('/') + 1);
  auto info = objects.head(op);
  p.s.size = info ? int64_t(info->size) : 0;
  p.s.sample_time = info ? info->mtime_ms : clock::now_ms();
  if (info && is_text_type(type)) {
    if (auto text = objects.get_all(op)) p.s.size = int64_t(utf8_length(*text));
  }
}

}  // namespace

Response DataApi::add_samples(Context& ctx) {
  auto d = dataset(ctx);
  std::string ds = d.str("id");
  int type = int(d.i64("type"));
  auto in = ctx.in();
  bool final_annotation = in.opt_bool("final_annotation").value_or(true);
  const json& samples = in.has("samples") ? in.arr("samples") : json::array();
  if (samples.size() > 10000) in.fail("samples", "at most 10000 samples per request");
  // Inline data lands in the first input folder, else in the dataset's data folder.
  json sources = json::parse(d.str("data_sources"), nullptr, false);
  obs::ObsPath upload_dir = sources.is_array() && !sources.empty() && sources[0].contains("data_path")
                                ? obs::parse_path(sources[0]["data_path"].get<std::string>())
                                : obs::parse_path(inner_work_path(d) + "data/");
  auto defined = defined_labels(db, ds);
  std::string who = "human/" + ctx.caller.user_name + "/" + ctx.caller.user_name;
  // Validate everything first: the batch applies whole or not at all.
  std::vector<AddedSample> pending;
  std::set<std::string> ids_seen;
  for (size_t i = 0; i < samples.size(); ++i) {
    std::string f = "samples[" + std::to_string(i) + "]";
    if (!samples[i].is_object()) in.fail(f.c_str(), "must be an object");
    JsonIn s(samples[i], in.field(f.c_str()));
    AddedSample p;
    if (s.has("data")) read_inline_sample(s, type, upload_dir, p);
    else read_source_sample(s, objects, type, p);
    // The path is what makes a sample unique; its id comes with its row.
    if (!ids_seen.insert(p.s.path).second) s.fail("name", "names a file already in this batch");
    p.s.type = sample_type_for(type);
    if (s.has("sample_type")) {
      auto st = s.opt_int("sample_type", 0, 9);
      if (*st != p.s.type && type != 900) s.fail("sample_type", "does not fit the dataset type");
      p.s.type = int(*st);
    }
    if (s.has("metadata")) {
      if (!samples[i]["metadata"].is_object()) s.fail("metadata", "must be an object");
      p.s.metadata = samples[i]["metadata"];
    }
    if (s.has("labels")) {
      SampleFacts facts{type, p.s.size, p.s.metadata};
      p.s.labels = checked_labels(samples[i]["labels"], facts, in.field(f.c_str()) + ".labels", defined, who);
      p.s.auto_annotation = !final_annotation;
      p.s.annotated_by = p.s.labels.empty() ? "" : who;
    }
    pending.push_back(std::move(p));
  }
  json results = json::array();
  db.transaction([&] {
    int64_t seq = db.query_one("SELECT sample_seq FROM datasets WHERE id = ?", {ds})->i64("sample_seq");
    SampleWriter w(db, ds);
    for (auto& p : pending) {
      if (!w.insert(p.s, seq))
        throw ApiError(400, "ModelArts.4422", "Sample " + p.s.path + " already exists in the dataset.");
      json item = json::object();
      item["success"] = true;
      item["name"] = p.s.path;
      item["info"] = p.s.id;
      results.push_back(std::move(item));
    }
    w.commit();
    db.exec("UPDATE datasets SET sample_seq = ? WHERE id = ?", {seq, ds});
    touch(ds);
    // Files are written last: a failed write rolls the rows back.
    for (auto& p : pending) {
      if (!p.upload) continue;
      objects.create_bucket(upload_dir.bucket);
      objects.put(obs::parse_path(p.s.path), p.data);
    }
  });
  return json_response(200, {{"success", true}, {"results", results}});
}

namespace {

// The filters of a sample listing as SQL, and whether a counter answers its
// total exactly (count_key) so that no COUNT(*) is needed.
struct SampleFilter {
  std::string from = " FROM samples s";
  std::string where = " WHERE s.dataset_id = ?";
  store::Params p;
  std::optional<std::string> count_key = std::string("total");
  bool by_label = false;
};

// sample_state.
void filter_state(const Context& ctx, SampleFilter& f) {
  if (auto v = qp(ctx, "sample_state")) {
    std::string st = *v;
    for (char& c : st) c = char(std::toupper(static_cast<unsigned char>(c)));
    // One state: its counter is the total; labeled (two states) is counted.
    f.count_key.reset();
    if (st == "__ALL__") {
      f.where += " AND s.state IN ('MANUAL_ANNOTATION', 'AUTO_ANNOTATION')";
    } else if (st == "__NONE__" || st == "UN_ANNOTATION") {
      f.where += " AND s.state = 'UN_ANNOTATION'";
      f.count_key = std::string("state:") + kUnannotated;
    } else if (st == "__AUTO_ANNOTATION__" || st == "AUTO_ANNOTATION") {
      f.where += " AND s.state = 'AUTO_ANNOTATION'";
      f.count_key = std::string("state:") + kAuto;
    } else if (st == "MANUAL_ANNOTATION") {
      f.where += " AND s.state = 'MANUAL_ANNOTATION'";
      f.count_key = std::string("state:") + kManual;
    }
    else if (st.size() > 4 && st.rfind("__", 0) == 0) f.where += " AND 1 = 0";  // team states: none without team tasks
    else throw bad_request("Invalid parameter sample_state: " + *v);
  }
}

// sample_type, label_name and label_type.
void filter_type_and_labels(const Context& ctx, Database& db, const std::string& ds, SampleFilter& f) {
  if (auto t = query_int(ctx, "sample_type")) {
    f.count_key.reset();
    f.where += " AND s.type = ?";
    f.p.push_back(*t);
  }
  if (auto v = qp(ctx, "label_name")) {
    auto t = query_int(ctx, "label_type");
    if (!t) {
      // The usual case: the name has one type in the dataset. Knowing it
      // keeps one join row per sample and the counters exact.
      auto types = db.query("SELECT type FROM dataset_labels WHERE dataset_id = ? AND name = ?", {ds, *v});
      if (types.size() == 1) t = int(types[0].i64("type"));
    }
    f.by_label = true;
    bool unfiltered = f.count_key && *f.count_key == "total";
    f.count_key = unfiltered && t ? std::optional<std::string>(label_key("ls", *t, *v)) : std::nullopt;
    f.from += " JOIN sample_labels l ON l.dataset_id = s.dataset_id AND l.seq = s.seq";
    f.where += " AND l.label_name = ?";
    f.p.push_back(*v);
    if (t) {
      f.where += " AND l.label_type = ?";
      f.p.push_back(*t);
    } else {
      // Several types share the name: one row per sample all the same.
      f.where += " AND l.label_type = (SELECT MIN(y.label_type) FROM sample_labels y WHERE y.dataset_id = l.dataset_id "
               "AND y.label_name = l.label_name AND y.seq = l.seq)";
    }
  } else if (auto t = query_int(ctx, "label_type")) {
    f.count_key.reset();
    f.where += " AND EXISTS (SELECT 1 FROM sample_labels l WHERE l.dataset_id = s.dataset_id AND l.seq = s.seq AND l.label_type = ?)";
    f.p.push_back(*t);
  }
}

// The confidence window and search_conditions.
void filter_scores_and_conditions(const Context& ctx, SampleFilter& f) {
  if (qp(ctx, "high_score") || qp(ctx, "low_score")) {
    // The confidence window (low_score..high_score); the default 0..1 filters nothing.
    auto bound = [&](const char* k, double def) {
      auto v = qp(ctx, k);
      if (!v) return def;
      auto d = parse_ratio(*v);
      if (!d) throw bad_request(std::string("Invalid parameter ") + k + ": must be a number from 0 to 1");
      return *d;
    };
    double lo = bound("low_score", 0), hi = bound("high_score", 1);
    if (lo > hi) throw bad_request("Invalid parameter low_score: must not exceed high_score");
    if (lo > 0 || hi < 1) {
      f.count_key.reset();
      f.where += " AND " + score_window_sql(lo, hi, f.p);
    }
  }
  if (auto v = qp(ctx, "search_conditions"); v && !v->empty()) {
    f.count_key.reset();
    json conds = parse_json_limited(*v);
    if (!conds.is_array()) throw bad_request("Invalid parameter search_conditions: must be a JSON array");
    for (auto& c : conds) {  // ANDed on this endpoint (ORed in exports)
      f.where += " AND (" + condition_sql(c, f.p) + ")";
    }
  }
}

}  // namespace

Response DataApi::list_samples(Context& ctx) {
  auto d = dataset(ctx);
  if (auto vid = qp(ctx, "version_id")) return json_response(200, list_version_samples(ctx, db, objects, d, *vid));
  std::string ds = d.str("id");
  SampleFilter f;
  f.p.push_back(ds);
  filter_state(ctx, f);
  filter_type_and_labels(ctx, db, ds, f);
  filter_scores_and_conditions(ctx, f);
  auto& [from, where, p, count_key, by_label] = f;
  std::string order = qp(ctx, "order") ? *qp(ctx, "order") : "desc";
  if (order != "asc" && order != "desc") throw bad_request("Invalid parameter order: must be asc or desc");
  auto [skip, limit] = page(ctx, 10, 100);
  int64_t total;
  if (count_key) {
    auto c = db.query_one("SELECT value FROM dataset_counters WHERE dataset_id = ? AND key = ?", {ds, *count_key});
    total = c ? c->i64("value") : 0;
  } else {
    total = db.query_one("SELECT COUNT(*) AS n" + from + where, p)->i64("n");
  }
  // With a label filter, walk the label index in seq order.
  std::string seq_col = by_label ? "l.seq" : "s.seq";
  // A continuation marker (the last seq seen) keeps deep pages cheap.
  if (auto m = qp(ctx, "marker"); m && !m->empty()) {
    if (m->find_first_not_of("0123456789") != std::string::npos || m->size() > 18)
      throw bad_request("Invalid parameter marker");
    where += order == "desc" ? " AND " + seq_col + " < ?" : " AND " + seq_col + " > ?";
    p.push_back(int64_t(std::stoll(*m)));
    skip = 0;
  }
  p.push_back(limit);
  p.push_back(skip);
  json list = json::array();
  int64_t last = -1;
  std::string sql = "SELECT s.*" + from + where + " ORDER BY " + seq_col + " " + order + " LIMIT ? OFFSET ?";
  if (by_label && count_key) {
    // Only a label filter: page through the label index alone and read
    // just the page's samples, so a deep offset skips index entries
    // instead of whole sample rows.
    std::string label_where = where;
    label_where.replace(label_where.find("s.dataset_id"), 12, "l.dataset_id");
    sql = "SELECT s.* FROM samples s JOIN (SELECT l.seq FROM sample_labels l" + label_where + " ORDER BY l.seq " + order +
          " LIMIT ? OFFSET ?) k ON s.seq = k.seq WHERE s.dataset_id = ? ORDER BY s.seq " + order;
    p.push_back(ds);
  }
  for (auto& r : db.query(sql, p)) {
    list.push_back(sample_json(ctx, r));
    last = r.i64("seq");
  }
  json body = {{"sample_count", total}, {"samples", list}};
  if (int64_t(list.size()) == limit && last >= 0) body["next_marker"] = std::to_string(last);
  return json_response(200, body);
}

Row DataApi::sample_row(const std::string& ds, const std::string& id) {
  int64_t seq = sample_seq(ds, id);
  auto r = seq < 0 ? std::nullopt : db.query_one("SELECT * FROM samples WHERE dataset_id = ? AND seq = ?", {ds, seq});
  if (!r) throw ApiError(400, "ModelArts.4420", "Sample " + id + " does not exist.");
  return *r;
}

// Many samples by id in a few queries: ids of `items[i][key]` -> rows, in
// chunks of 100 (padded, so one prepared statement serves every chunk).
std::vector<Row> DataApi::sample_rows(const std::string& ds, const std::vector<std::string>& ids) {
  std::map<int64_t, Row> by_seq;
  std::vector<int64_t> seqs;
  for (auto& id : ids) {
    int64_t seq = sample_seq(ds, id);
    if (seq < 0) throw ApiError(400, "ModelArts.4420", "Sample " + id + " does not exist.");
    seqs.push_back(seq);
  }
  static const std::string sql = [] {
    std::string s = "SELECT * FROM samples WHERE dataset_id = ? AND seq IN (?";
    for (int i = 1; i < 100; ++i) s += ", ?";
    return s + ")";
  }();
  for (size_t at = 0; at < seqs.size(); at += 100) {
    store::Params p;
    p.reserve(101);
    p.emplace_back(ds);
    for (size_t i = 0; i < 100; ++i) p.emplace_back(seqs[std::min(at + i, seqs.size() - 1)]);
    for (auto& r : db.query(sql, p)) by_seq.emplace(r.i64("seq"), r);
  }
  std::vector<Row> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = by_seq.find(seqs[i]);
    if (it == by_seq.end()) throw ApiError(400, "ModelArts.4420", "Sample " + ids[i] + " does not exist.");
    out.push_back(it->second);
  }
  return out;
}

Response DataApi::get_sample(Context& ctx) {
  auto d = dataset(ctx);
  return json_response(200, sample_json(ctx, sample_row(d.str("id"), ctx.param("sample_id"))));
}

// The sample's bytes, for clients that preview or label them (not in
// ModelArts: the real service hands out presigned OBS URLs instead).
Response DataApi::sample_content(Context& ctx) {
  auto d = dataset(ctx);
  auto r = sample_row(d.str("id"), ctx.param("sample_id"));
  auto data = objects.get_all(obs::parse_path(r.str("path")));
  if (!data) throw ApiError(404, "ModelArts.0015", "The file of sample " + r.str("id") + " is missing: " + r.str("path"));
  Response resp;
  resp.status = 200;
  std::string n = r.str("name");
  std::string ext = n.rfind('.') == std::string::npos ? "" : n.substr(n.rfind('.') + 1);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, std::string> types = {
      {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"png", "image/png"}, {"bmp", "image/bmp"}, {"gif", "image/gif"},
      {"webp", "image/webp"}, {"txt", "text/plain; charset=utf-8"}, {"csv", "text/csv"}, {"wav", "audio/wav"},
      {"mp3", "audio/mpeg"}, {"mp4", "video/mp4"}};
  resp.headers.add("Content-Type", types.count(ext) ? types.at(ext) : "application/octet-stream");
  resp.body = std::move(*data);
  return resp;
}

Response DataApi::delete_samples(Context& ctx) {
  auto d = dataset(ctx);
  auto in = ctx.in();
  const json& ids = in.arr("samples");
  bool delete_source = in.opt_bool("delete_source").value_or(false) && !is_text_type(int(d.i64("type")));
  for (size_t i = 0; i < ids.size(); ++i)
    if (!ids[i].is_string()) in.fail("samples", "must hold sample ids (strings)");
  // The rows are read inside the transaction that removes them, so a
  // concurrent change of the same samples is counted once.
  std::vector<Row> rows;
  json results = json::array();
  db.transaction([&] {
    rows.clear();
    for (size_t i = 0; i < ids.size(); ++i) rows.push_back(sample_row(d.str("id"), ids[i].get<std::string>()));
    SampleWriter w(db, d.str("id"));
    std::set<std::string> done;
    for (auto& r : rows) {
      if (!done.insert(r.str("id")).second) continue;
      w.remove(r);
      results.push_back({{"success", true}});
    }
    w.commit();
    touch(d.str("id"));
  });
  // A sample's file is removed only from a bucket of the caller's
  // account: a sample may name a file it only reads (a platform sample).
  if (delete_source) {
    obs::Buckets owners(db);
    for (auto& r : rows) {
      try {
        auto p = obs::parse_path(r.str("path"));
        if (owners.owns(ctx.caller.domain_id, p.bucket)) objects.remove(p);
      } catch (const ApiError&) {
      }
    }
  }
  return json_response(200, {{"success", true}, {"results", results}});
}

Response DataApi::search_conditions(Context& ctx) {
  auto d = dataset(ctx);
  json labels = json::array();
  for (auto& r : dataset_labels(db, d.str("id"))) labels.push_back(label_json(r));
  json labelers = json::array();
  for (auto& r : db.query("SELECT DISTINCT annotated_by FROM samples WHERE dataset_id = ? AND annotated_by IS NOT NULL "
                          "ORDER BY annotated_by LIMIT 1000",
                          {d.str("id")}))
    labelers.push_back(r.str("annotated_by"));
  // Metadata keys and values seen on the most recent samples.
  std::map<std::string, std::set<std::string>> md;
  for (auto& r : db.query("SELECT metadata FROM samples WHERE dataset_id = ? AND metadata <> '{}' ORDER BY seq DESC LIMIT 1000",
                          {d.str("id")})) {
    json m = json::parse(r.str("metadata"), nullptr, false);
    if (!m.is_object()) continue;
    for (auto& [k, v] : m.items())
      if (md[k].size() < 100) md[k].insert(v.is_string() ? v.get<std::string>() : v.dump());
  }
  json metadata = json::object();
  for (auto& [k, vs] : md) metadata[k] = json(std::vector<std::string>(vs.begin(), vs.end()));
  return json_response(200, {{"labels", labels}, {"metadata", metadata}, {"labelers", labelers}});
}

}  // namespace atelier::data
