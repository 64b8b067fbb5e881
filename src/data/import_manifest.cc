// Manifest imports (spec §1.8, manifest-format.md §5): lines read and checked
// on reader threads while the previous batch commits with its resume
// position, so a killed server resumes exactly.
#include "data/transfer_internal.h"

#include "data/fields.h"
#include "data/importer.h"
#include "data/line_reader.h"

namespace atelier::data {

json run_manifest(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  int type = int(d.i64("type"));
  auto info = objects.head(opt.path);
  if (!info) throw ApiError(400, "ModelArts.4374", "The manifest " + obs_str(opt.path) + " does not exist.");
  // First run: the lines are counted for visible progress, beside the
  // import rather than before it -- the count reads the whole manifest, and
  // from the disk the other core would wait meanwhile. The total shows from
  // the first batch applied after the count ends (the byte counts at once).
  std::future<int64_t> counted;
  if (g.total < 0) {
    g.bytes_total = int64_t(info->size);
    tc.progress(g.to_json());
    counted = std::async(std::launch::async, [&objects, path = opt.path] { return LineReader(objects.get(path)).count_lines(); });
  }
  auto take_count = [&](bool wait) {
    if (counted.valid() && (wait || counted.wait_for(std::chrono::seconds(0)) == std::future_status::ready))
      g.total = counted.get();
  };
  LineReader lines(objects.get(opt.path));
  if (!lines.skip(g.offset)) {
    take_count(true);
    return g.to_json();
  }
  Importer imp(db, objects, tc, d, opt);
  // Reading a batch (JSON, VOC files, the sources' sizes, label checks)
  // touches no metadata, so the next batch is read while this one is
  // applied, split over one reader per core.
  struct Raw {
    int64_t line_no;
    std::string text;  // empty: the line was too long
  };
  auto read = [&objects, &imp, type](const std::vector<Raw>& raw, size_t from, size_t to) {
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
  };
  struct Pending {
    std::vector<std::future<std::vector<Item>>> parts;
    uint64_t offset;
    int64_t line_no;
  };
  // Two batches are read ahead of the one applied, so that the readers
  // never wait for the database (reading costs more than applying).
  constexpr size_t kReadAhead = 2;
  std::deque<Pending> pending;
  std::vector<std::vector<Item>> spent;  // an applied batch's parts, freed by the next readers
  auto apply_first = [&] {
    Pending& first = pending.front();
    std::vector<std::vector<Item>> parts;
    std::vector<Item*> items;  // the parts stay where their readers made them
    for (auto& part : first.parts) {
      parts.push_back(part.get());
      for (auto& it : parts.back()) items.push_back(&it);
    }
    g.bytes_done = int64_t(first.offset);
    g.offset = first.offset;
    take_count(pending.size() == 1);  // the last batch's progress carries the total
    imp.apply(items, g, {{"offset", first.offset}, {"line", first.line_no}});
    spent = std::move(parts);
    pending.pop_front();
  };
  ReaderCount readers(std::max(1u, std::min(4u, std::thread::hardware_concurrency())));
  std::vector<Raw> raw;
  std::string line;
  bool too_long = false;
  // Line numbers count every line, blank ones too, and continue from the resume point.
  int64_t line_no = tc.task().progress.is_object() ? tc.task().progress.value("line", int64_t(0)) : 0;
  auto dispatch = [&] {
    // Start reading this batch, then apply an earlier one meanwhile.
    Pending next{{}, lines.offset(), line_no};
    auto shared = std::make_shared<std::vector<Raw>>(std::move(raw));
    size_t n = shared->size(), parts = std::max<size_t>(1, std::min(readers.next(), n)), step = (n + parts - 1) / parts;
    for (size_t k = 0; k < parts; ++k) {
      size_t from = std::min(n, k * step), to = std::min(n, from + step);
      std::vector<std::vector<Item>> garbage;
      for (size_t j = k; j < spent.size(); j += parts) garbage.push_back(std::move(spent[j]));
      next.parts.push_back(std::async(std::launch::async, [shared, from, to, &read, garbage = std::move(garbage)]() mutable {
        begin_reader_thread();
        garbage.clear();  // a spent batch's JSON trees are freed here, off the applying thread
        return read(*shared, from, to);
      }));
    }
    spent.clear();
    raw.clear();
    pending.push_back(std::move(next));
    while (pending.size() > kReadAhead) apply_first();
  };
  while (lines.next(line, too_long)) {
    if (tc.stopping()) {
      for (auto& p : pending)  // let the readers finish; their batches are not applied
        for (auto& part : p.parts) part.wait();
      take_count(true);
      return g.to_json();
    }
    ++line_no;
    if (!too_long && line.find_first_not_of(" \t\r") == std::string::npos) continue;
    raw.push_back({line_no, too_long ? std::string() : std::move(line)});
    if (raw.size() >= kManifestBatch) dispatch();
  }
  dispatch();
  while (!pending.empty()) apply_first();
  take_count(true);
  return g.to_json();
}

}  // namespace atelier::data
