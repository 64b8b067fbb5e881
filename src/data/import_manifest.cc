// Manifest imports: lines read and checked
// on reader threads while the previous batch commits with its resume
// position, so a killed server resumes exactly.
#include "data/transfer_internal.h"

#include "data/fields.h"
#include "data/importer.h"
#include "data/line_reader.h"

namespace atelier::data {

namespace {

// A line of the manifest as the reading loop hands it to a reader thread.
struct RawLine {
  int64_t line_no;
  std::string text;  // empty: the line was too long
};

// Reads lines [from, to) of a batch into items, then prepares them: the
// plain fast path where the import allows it, else the generic one. Touches
// no metadata, so it runs on a reader thread.
std::vector<Item> read_lines(obs::ObjectStore& objects, const Importer& imp, int type, const std::vector<RawLine>& raw,
                             size_t from, size_t to) {
  auto scan = objects.scanner();
  const bool plain = imp.plain_lines();
  const int64_t now = clock::now_ms();
  // A line whose VOC file is not in memory is put off until the others
  // are read, its reading started meanwhile, instead of this thread
  // waiting for the disk: the machine may have paged the files out since
  // they were written. 1M lines, a tenth of the VOC files paged out:
  // 75-83k samples/s before, 88-91k after. When most files come from the
  // disk, reading them keeps the CPU busy anyway, so once most of its
  // lines are put off a reader takes the rest in order (every file paged
  // out: 46k before, 51k after; 42k putting off every line).
  bool wait = false, pending = false;
  auto read_file = [&scan, &wait, &pending, &imp](const std::string& path) -> std::optional<std::string> {
    if (pending) return std::nullopt;  // the line is put off already
    try {
      auto p = obs::parse_path(path);
      if (!imp.may_read(p)) throw ManifestError(path + ": the bucket " + p.bucket + " is not this account's");
      return wait ? scan->get_all(p) : scan->get_all_at_hand(p, pending);
    } catch (const ApiError&) {
      return std::nullopt;
    }
  };
  std::vector<Item> items(to - from);
  std::vector<size_t> put_off;
  auto read_line = [&](size_t i) {
    Item& it = items[i - from];
    pending = false;
    try {
      if (plain && (it.plain = read_plain_line(raw[i].text, type, now, read_file))) return;
      if (!pending) it.m = parse_manifest_line(raw[i].text, type, read_file);
    } catch (const ManifestError& e) {
      it.error = e.what();
    }
    if (pending) {
      it.error.clear();
      put_off.push_back(i);
    }
  };
  for (size_t i = from; i < to; ++i) {
    Item& it = items[i - from];
    it.origin = "line " + std::to_string(raw[i].line_no);
    if (raw[i].text.empty()) {
      it.error = "the line is longer than " + std::to_string(kMaxManifestLine) + " bytes";
      continue;
    }
    read_line(i);
    if (!wait && put_off.size() >= 64 && put_off.size() * 2 > i - from) wait = true;
  }
  wait = true;
  for (size_t i : put_off) read_line(i);
  imp.prepare(items, *scan);
  return items;
}

// One run of a manifest import: from the resume position to the end of the
// manifest, or until the task is asked to stop.
class ManifestImport {
 public:
  ManifestImport(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt)
      : db_(db), objects_(objects), tc_(tc), d_(d), opt_(opt), g_(Progress::from(tc.task().progress)),
        type_(int(d.i64("type"))) {}

  json run();

 private:
  // A batch being read: its parts, one a reader thread, and where it ends.
  struct Pending {
    std::vector<std::future<std::vector<Item>>> parts;
    uint64_t offset;
    int64_t line_no;
  };
  // Two batches are read ahead of the one applied, so that the readers
  // never wait for the database (reading costs more than applying).
  static constexpr size_t kReadAhead = 2;

  // First run: the lines are counted for visible progress, beside the
  // import rather than before it -- the count reads the whole manifest, and
  // from the disk the other core would wait meanwhile. The total shows from
  // the first batch applied after the count ends (the byte counts at once).
  void start_count(uint64_t bytes);
  // Takes the count into the progress once it is done (`wait`: waits for it).
  void take_count(bool wait);
  // Starts reading the lines gathered as the next batch, then applies
  // earlier batches while more than kReadAhead are being read.
  void dispatch();
  // Applies the oldest batch read, with its resume position.
  void apply_first();
  // Lets the readers finish without applying their batches; the progress so far.
  json stop();

  Database& db_;
  obs::ObjectStore& objects_;
  tasks::TaskContext& tc_;
  const Row& d_;
  const ImportOptions& opt_;
  Progress g_;
  int type_;
  std::future<int64_t> counted_;
  std::optional<LineReader> lines_;
  std::optional<Importer> imp_;
  std::deque<Pending> pending_;
  std::vector<std::vector<Item>> spent_;  // an applied batch's parts, freed by the next readers
  ReaderCount readers_{std::max(1u, std::min(4u, std::thread::hardware_concurrency()))};
  std::vector<RawLine> raw_;
  int64_t line_no_ = 0;  // counts every line, blank ones too, and continues from the resume point
};

void ManifestImport::start_count(uint64_t bytes) {
  g_.bytes_total = int64_t(bytes);
  tc_.progress(g_.to_json());
  counted_ = std::async(std::launch::async, [&objects = objects_, path = opt_.path] { return LineReader(objects.get(path)).count_lines(); });
}

void ManifestImport::take_count(bool wait) {
  if (counted_.valid() && (wait || counted_.wait_for(std::chrono::seconds(0)) == std::future_status::ready))
    g_.total = counted_.get();
}

void ManifestImport::dispatch() {
  Pending next{{}, lines_->offset(), line_no_};
  auto shared = std::make_shared<std::vector<RawLine>>(std::move(raw_));
  size_t n = shared->size(), parts = std::max<size_t>(1, std::min(readers_.next(), n)), step = (n + parts - 1) / parts;
  for (size_t k = 0; k < parts; ++k) {
    size_t from = std::min(n, k * step), to = std::min(n, from + step);
    std::vector<std::vector<Item>> garbage;
    for (size_t j = k; j < spent_.size(); j += parts) garbage.push_back(std::move(spent_[j]));
    next.parts.push_back(std::async(std::launch::async, [this, shared, from, to, garbage = std::move(garbage)]() mutable {
      begin_reader_thread();
      garbage.clear();  // a spent batch's JSON trees are freed here, off the applying thread
      return read_lines(objects_, *imp_, type_, *shared, from, to);
    }));
  }
  spent_.clear();
  raw_.clear();
  pending_.push_back(std::move(next));
  while (pending_.size() > kReadAhead) apply_first();
}

void ManifestImport::apply_first() {
  Pending& first = pending_.front();
  std::vector<std::vector<Item>> parts;
  std::vector<Item*> items;  // the parts stay where their readers made them
  for (auto& part : first.parts) {
    parts.push_back(part.get());
    for (auto& it : parts.back()) items.push_back(&it);
  }
  g_.bytes_done = int64_t(first.offset);
  g_.offset = first.offset;
  take_count(pending_.size() == 1);  // the last batch's progress carries the total
  imp_->apply(items, g_, {{"offset", first.offset}, {"line", first.line_no}});
  spent_ = std::move(parts);
  pending_.pop_front();
}

json ManifestImport::stop() {
  for (auto& p : pending_)  // let the readers finish; their batches are not applied
    for (auto& part : p.parts) part.wait();
  take_count(true);
  return g_.to_json();
}

json ManifestImport::run() {
  auto info = objects_.head(opt_.path);
  if (!info) throw ApiError(400, "ModelArts.4374", "The manifest " + obs_str(opt_.path) + " does not exist.");
  if (g_.total < 0) start_count(info->size);
  lines_.emplace(objects_.get(opt_.path));
  if (!lines_->skip(g_.offset)) {
    take_count(true);
    return g_.to_json();
  }
  imp_.emplace(db_, objects_, tc_, d_, opt_);
  std::string line;
  bool too_long = false;
  line_no_ = tc_.task().progress.is_object() ? tc_.task().progress.value("line", int64_t(0)) : 0;
  while (lines_->next(line, too_long)) {
    if (tc_.stopping()) return stop();
    ++line_no_;
    if (!too_long && line.find_first_not_of(" \t\r") == std::string::npos) continue;
    raw_.push_back({line_no_, too_long ? std::string() : std::move(line)});
    if (raw_.size() >= kManifestBatch) dispatch();
  }
  dispatch();
  while (!pending_.empty()) apply_first();
  take_count(true);
  return g_.to_json();
}

}  // namespace

json run_manifest(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  return ManifestImport(db, objects, tc, d, opt).run();
}

}  // namespace atelier::data
