#include "data/importer.h"

#include <algorithm>

#include "iam/iam.h"

namespace atelier::data {

Importer::Importer(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, ImportOptions opt)
    : db_(db), objects_(objects), tc_(tc), ds_(d.str("id")), type_(int(d.i64("type"))),
      data_dir_(inner_work_path(d) + "data/"), opt_(std::move(opt)),
      bucket_owners_(db), buckets_(bucket_owners_, iam::project_domain(db, d.str("project_id"))) {
  if (!opt_.import_folder.empty()) copy_dir_ = storage_dir(d) + opt_.import_folder + "/";
}


std::string Importer::storage_dir(const Row& d) {
  json src = json::parse(d.str("data_sources"), nullptr, false);
  if (src.is_array())
    for (auto& ds : src)
      if (ds.is_object() && ds.value("data_type", 0) == 0 && ds.contains("data_path") && ds["data_path"].is_string()) {
        std::string path = obs_str(obs::parse_path(ds["data_path"].get<std::string>()));
        return path.back() == '/' ? path : path + "/";
      }
  return inner_work_path(d) + "data/";
}

void Importer::prepare(Item& it, obs::Scanner& scan) const {
  if (it.prepared || !it.error.empty()) return;
  try {
    prepare_one(it, scan);
  } catch (const ApiError& e) {
    it.error = e.what();
  } catch (const ManifestError& e) {
    it.error = e.what();
  } catch (const json::exception& e) {  // e.g. a label name read from a file that is not UTF-8
    it.error = std::string("cannot be stored: ") + e.what();
  }
  it.prepared = true;
}

void Importer::apply(std::vector<Item>& items, Progress& g, const json& cursor_update) {
  std::vector<Item*> all;
  all.reserve(items.size());
  for (auto& it : items) all.push_back(&it);
  apply(all, g, cursor_update);
}

void Importer::apply(const std::vector<Item*>& batch, Progress& g, const json& cursor_update) {
  auto scan = objects_.scanner();
  for (Item* it : batch) prepare(*it, *scan);  // items not prepared by a reader yet
  // Files first (inline texts, import_folder copies), made durable, and only
  // then the one transaction: copying gigabytes must not hold the
  // database's write lock. Should the dataset be gone by then, the files
  // this batch wrote are removed again.
  std::vector<obs::ObsPath> written;
  for (Item* it : batch)
    if (it->error.empty() && !it->skip) try {
        materialize(*it, written);
      } catch (const ApiError& e) {
        it->error = e.what();
      }
  if (!written.empty()) objects_.sync();
  try {
    db_.transaction([&] { write_batch(batch, g, cursor_update); });
  } catch (const ApiError& e) {
    if (!db_.query_one("SELECT id FROM datasets WHERE id = ? AND status <> 2", {ds_}))
      for (auto& p : written) objects_.remove(p);
    throw;
  }
}

template <class Step>
void Importer::or_fail(Item& it, Progress& g, Step step) {
  try {
    step();
  } catch (const ApiError& e) {
    fail(g, it.origin, e.what());
  } catch (const json::exception& e) {  // labels that cannot be stored (read back from their text)
    fail(g, it.origin, std::string("cannot be stored: ") + e.what());
  }
}

void Importer::write_batch(const std::vector<Item*>& batch, Progress& g, const json& cursor_update) {
  auto row = db_.query_one("SELECT sample_seq FROM datasets WHERE id = ? AND status <> 2", {ds_});
  if (!row) throw dataset_missing(ds_);  // deleted meanwhile: the task fails with that reason
  defined_ = defined_labels(db_, ds_);
  int64_t seq = row->i64("sample_seq");
  SampleWriter w(db_, ds_);
  // New samples go in together; those whose path is taken, and the
  // samples of an import that only updates, are handled one by one.
  std::vector<Item*> fresh, taken;
  std::vector<SampleWriter::NewSample*> rows;
  for (Item* it : batch) {
    ++g.processed;
    if (!it->error.empty()) {
      fail(g, it->origin, it->error);
      continue;
    }
    if (it->skip) continue;
    or_fail(*it, g, [&] {
      if (!opt_.import_samples) {
        update_one(*it, w, g);
        return;
      }
      define_new_labels(it->row);
      fresh.push_back(it);
      rows.push_back(&it->row);
    });
  }
  std::vector<bool> inserted;
  w.insert_many(rows, seq, inserted);
  for (size_t i = 0; i < fresh.size(); ++i) {
    if (!inserted[i]) {
      taken.push_back(fresh[i]);
      continue;
    }
    ++g.imported;
    if (rows[i]->labeled) ++(rows[i]->auto_annotation ? g.unconfirmed : g.annotated);
  }
  for (Item* it : taken) or_fail(*it, g, [&] { update_one(*it, w, g); });
  w.commit();
  db_.exec("UPDATE datasets SET sample_seq = ?, data_updated_at = ?, updated_at = ? WHERE id = ?",
           {seq, clock::now_ms(), clock::now_ms(), ds_});
  json p = g.to_json();
  for (auto& [k, v] : cursor_update.items()) p[k] = v;
  tc_.progress(p);
}

void Importer::fail(Progress& g, const std::string& origin, const std::string& reason) {
  ++g.failed;
  if (g.failed <= kMaxStoredFailures)
    db_.exec("INSERT INTO dataset_import_failures (task_id, n, item, reason) VALUES (?, ?, ?, ?) "
             "ON CONFLICT (task_id, n) DO NOTHING",
             {tc_.task().id, g.failed, origin, reason.substr(0, 1000)});
}

void Importer::prepare_one(Item& it, obs::Scanner& scan) const {
  if (it.plain) {
    PlainLine& p = *it.plain;
    it.m.path = std::move(p.path);
    locate(it, scan);
    SampleWriter::NewSample& s = it.row;
    s.labels_text = std::move(p.labels_text);
    s.metadata_text = std::move(p.metadata_text);
    s.label_rows = SampleWriter::label_rows_of(p.labels);
    s.labeled = !p.labels.empty();
    s.derived = true;
    fill_row(it, s.labeled, std::move(p.usage));
    it.plain.reset();
    return;
  }
  ManifestSample& m = it.m;
  if (opt_.difficult_only && !(m.metadata.contains("@modelarts:hard") && m.metadata["@modelarts:hard"].is_number() &&
                               m.metadata["@modelarts:hard"].get<double>() > 0)) {
    it.skip = true;  // filtered out, not a failure
    return;
  }
  json labels = opt_.import_annotations ? std::move(m.labels) : json::array();
  std::set<std::string> names;
  for (auto& l : labels) names.insert(l.value("name", ""));
  if ((!opt_.included.empty() &&
       std::none_of(names.begin(), names.end(), [&](auto& n) { return opt_.included.count(n) > 0; })) ||
      std::any_of(names.begin(), names.end(), [&](auto& n) { return opt_.excluded.count(n) > 0; })) {
    it.skip = true;
    return;
  }

  locate(it, scan);
  int64_t text_length = it.size;
  if (is_text_type(type_) && !m.text.empty()) text_length = int64_t(utf8_length(m.text));
  else if (is_text_type(type_)) text_length = int64_t(utf8_length(scan.get_all(obs::parse_path(m.path)).value_or("")));

  // An annotation that does not fit the dataset, or fails validation,
  // fails the whole line with its reason. The sample is not brought in
  // unlabeled instead: a manifest states its annotations on purpose, so
  // bad input is counted as failed, with a reason, and nothing is
  // dropped silently — the user sees the line and can fix it.
  SampleFacts facts{type_, text_length, m.metadata};
  labels = validated_labels(type_, labels, facts, "human");
  SampleWriter::NewSample& s = it.row;
  s.labels = std::move(labels);
  s.metadata = std::move(m.metadata);
  s.derive();
  fill_row(it, s.labeled, std::move(m.usage));
}

void Importer::locate(Item& it, obs::Scanner& scan) const {
  ManifestSample& m = it.m;
  if (m.path.empty()) {
    m.path = data_dir_ + crypto::md5_hex(m.text) + ".txt";
    it.inline_text = true;
    it.size = int64_t(utf8_length(m.text));
  } else if (it.mtime == 0) {
    // A manifest's source keeps its bucket and key under import_folder, so
    // sources of two buckets never share a copy.
    if (it.relative.empty() && !copy_dir_.empty()) it.relative = m.path.substr(1);
    auto source = obs::parse_path(m.path);
    if (!buckets_.allows(source.bucket, obs::Buckets::Use::kRead))
      throw ApiError(403, "ModelArts.4310", "source " + m.path + ": the bucket " + source.bucket + " is not this account's");
    auto info = scan.head(source);
    if (!info) throw ApiError(400, "ModelArts.4362", "source " + m.path + ": the file does not exist");
    it.size = int64_t(info->size);
    it.mtime = info->mtime_ms;
  }
}

void Importer::fill_row(Item& it, bool labeled, std::string usage) const {
  const ManifestSample& m = it.m;
  SampleWriter::NewSample& s = it.row;
  s.path = m.path;
  s.name = basename(m.path);
  s.dir = m.path.substr(0, m.path.rfind('/') + 1);
  // Free-format samples keep the kind their line names (sample-type).
  s.type = type_ == 900 && m.sample_type >= 0 ? m.sample_type : sample_type_for(type_);
  s.size = it.size;
  s.sample_time = it.mtime;
  s.auto_annotation = !opt_.final_annotation && labeled;
  if (labeled) s.annotated_by = "human";
  s.usage = std::move(usage);
}

void Importer::materialize(Item& it, std::vector<obs::ObsPath>& written) {
  SampleWriter::NewSample& s = it.row;
  if (it.inline_text) {
    auto p = obs::parse_path(s.path);
    if (!objects_.exists(p)) {
      objects_.put(p, it.m.text, obs::ObjectStore::Durability::kDeferred);
      written.push_back(p);
    }
    return;
  }
  if (copy_dir_.empty() || s.path.compare(0, copy_dir_.size(), copy_dir_) == 0) return;
  std::string dst = obs_str(obs::parse_path(copy_dir_ + it.relative));
  if (!opt_.import_samples && !db_.query_one("SELECT seq FROM samples WHERE dataset_id = ? AND path = ?", {ds_, dst})) {
    it.skip = true;  // only an existing copy could take the labels: nothing to copy
    return;
  }
  auto src = objects_.get(obs::parse_path(s.path));
  if (!src) throw ApiError(400, "ModelArts.4362", "source " + s.path + ": the file does not exist");
  auto p = obs::parse_path(dst);
  auto info = objects_.put(p, [&](char* buf, size_t cap) { return src->read(buf, cap); },
                           obs::ObjectStore::Durability::kDeferred);
  written.push_back(p);
  s.path = dst;
  s.name = basename(s.path);
  s.dir = s.path.substr(0, s.path.rfind('/') + 1);
  s.size = int64_t(info.size);
  s.sample_time = info.mtime_ms;
}

void Importer::define_new_labels(SampleWriter::NewSample& s) {
  if (std::all_of(s.label_rows.begin(), s.label_rows.end(),
                  [&](const SampleWriter::LabelRow& r) { return r.name.empty() || defined_.count({r.type, r.name}); }))
    return;  // the usual case: nothing new
  s.trees();
  define_labels(db_, ds_, type_, s.labels, defined_);
}

void Importer::update_one(Item& it, SampleWriter& w, Progress& g) {
  SampleWriter::NewSample& s = it.row;
  auto existing = db_.query_one("SELECT * FROM samples WHERE dataset_id = ? AND path = ?", {ds_, s.path});
  if (!existing) {
    if (!opt_.import_samples) return;  // nothing of it is imported, not even its labels
    throw std::logic_error("a sample's path is taken and free at once");
  }
  define_new_labels(s);
  s.trees();
  if (!s.labeled && !s.usage.empty())
    db_.exec("UPDATE samples SET usage = ? WHERE dataset_id = ? AND seq = ?", {s.usage, ds_, existing->i64("seq")});
  if (s.labeled) {
    w.relabel(*existing, s.labels, &s.metadata, "human", s.usage.empty() ? nullptr : &s.usage, opt_.final_annotation,
              s.auto_annotation);
    ++(s.auto_annotation ? g.unconfirmed : g.annotated);
  }
  ++g.updated;
}

}  // namespace atelier::data
