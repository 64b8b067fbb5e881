// Folder imports: class folders, labels or
// VOC files beside the files, text and table layouts, COCO instance files and
// YOLO folders.
#include "data/transfer_internal.h"

#include "data/fields.h"
#include "data/importer.h"
#include "data/types.h"

namespace atelier::data {

namespace {

// Splits text into lines without their line ends.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(std::move(l));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t b = s.find_first_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b);
}

// Text classification files. "combine"
// (label_format.label_type 1): every line is `text<sep>label[,label...]`.
// "separate" (label_type 0, or a <stem>_result.txt beside the file): every
// line of x.txt is a sample labeled by the same line of x_result.txt. Each
// line becomes a sample whose text is kept in the dataset's storage. Returns
// false when the file is a plain one-sample text (no layout applies).
bool text_lines(obs::ObjectStore& objects, const ImportOptions& opt, const std::string& key, std::vector<Item>& items) {
  std::string st = stem(key);
  std::string dir = key.substr(0, key.rfind('/') + 1);
  const std::string kResult = "_result";
  bool is_result = st.size() > kResult.size() && st.compare(st.size() - kResult.size(), kResult.size(), kResult) == 0;
  if (is_result && opt.text_mode != 1) {
    // Read with its text file, when there is one.
    std::string text_key = dir + st.substr(0, st.size() - kResult.size()) + "." + lower_ext(key);
    if (objects.exists(obs::ObsPath{opt.path.bucket, text_key})) return true;
  }
  std::optional<std::string> result;
  if (opt.text_mode != 1) result = objects.get_all(obs::ObsPath{opt.path.bucket, dir + st + "_result." + lower_ext(key)});
  if (opt.text_mode == -1 && !result) return false;
  auto text = objects.get_all(obs::ObsPath{opt.path.bucket, key});
  if (!text) return false;
  std::vector<std::string> lines = split_lines(*text), labels;
  if (result) labels = split_lines(*result);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (trimmed(lines[i]).empty()) continue;
    Item it;
    it.origin = key + " line " + std::to_string(i + 1);
    std::string sample = lines[i], names;
    if (opt.text_mode == 1) {
      size_t sep = sample.rfind(opt.sample_sep);
      if (sep == std::string::npos) {
        it.error = "no '" + std::string(1, opt.sample_sep) + "' between the text and its labels";
        items.push_back(std::move(it));
        continue;
      }
      names = sample.substr(sep + 1);
      sample = sample.substr(0, sep);
    } else if (i < labels.size()) {
      names = labels[i];
    }
    it.m.text = sample;
    if (opt.import_annotations) {
      size_t pos = 0;
      while (pos <= names.size()) {
        size_t c = names.find(opt.label_sep, pos);
        std::string n = trimmed(names.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (!n.empty()) it.m.labels.push_back({{"name", n}, {"type", 100}});
        if (c == std::string::npos) break;
        pos = c + 1;
      }
    }
    items.push_back(std::move(it));
  }
  return true;
}

// Why a table file does not fit a schema of `columns` columns: the first
// record (RFC 4180: a quoted field may hold commas, doubled quotes and line
// breaks) with another count, or an unclosed quote; "" when it fits. Reads
// the file as a stream, so its size does not matter.
std::string csv_misfit(obs::ObjectReader& in, size_t columns, bool header) {
  size_t fields = 1, line = 1, record_line = 1;
  bool quoted = false, quote_seen = false, empty_record = true, first = true;
  auto end_record = [&]() -> std::string {
    bool skip = empty_record || (first && header);
    if (!empty_record) first = false;  // the header is the first record that is not blank
    if (!skip && fields != columns)
      return "line " + std::to_string(record_line) + " has " + std::to_string(fields) + " columns, the dataset's schema " +
             std::to_string(columns);
    fields = 1;
    empty_record = true;
    record_line = line;
    return "";
  };
  std::unique_ptr<char[]> buf(new char[1 << 16]);
  while (size_t n = in.read(buf.get(), 1 << 16))
    for (size_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (quote_seen) {  // a quote inside a quoted field: doubled, or the field's end
        quote_seen = false;
        if (c == '"') continue;
        quoted = false;
      }
      if (quoted) {
        if (c == '"') quote_seen = true;
        else if (c == '\n') ++line;
        continue;
      }
      if (c == '"') quoted = true, empty_record = false;
      else if (c == ',') ++fields, empty_record = false;
      else if (c == '\n') {
        ++line;
        if (auto e = end_record(); !e.empty()) return e;
      } else if (c != '\r') empty_record = false;
    }
  if (quoted && !quote_seen) return "line " + std::to_string(record_line) + ": a quoted field is not closed";
  return end_record();
}

// A COCO instance file as the import needs it: read with a SAX parser into
// compact records, so a file of a million annotations costs tens of MB, not
// the gigabytes its JSON tree would.
struct CocoFile {
  struct Image {
    int64_t id = -1;
    std::string file_name;
    double width = 0, height = 0;
  };
  struct Annotation {
    int64_t id = -1, image_id = -1, category_id = -1;
    std::vector<double> bbox;
    bool bbox_numbers = true;
    std::optional<double> score;
  };
  std::vector<Image> images;
  std::vector<Annotation> annotations;  // sorted by image_id after reading
  std::map<int64_t, std::string> categories;
  std::string error;  // why the file is not a COCO instance file

  static CocoFile read(std::string_view text) {
    CocoFile f;
    Sax sax(f);
    bool ok = json::sax_parse(text, &sax, json::input_format_t::json, /*strict=*/true);
    if (!ok) f.error = "not valid JSON";
    else if (sax.seen != 7) f.error = "not a COCO instance file: \"images\", \"annotations\" and \"categories\" arrays are required";
    std::stable_sort(f.annotations.begin(), f.annotations.end(),
                     [](const Annotation& x, const Annotation& y) { return x.image_id < y.image_id; });
    return f;
  }

 private:
  // Depth 1: the file's object; 2: a section's array; 3: an element; 4: its bbox.
  struct Sax : nlohmann::json_sax<json> {
    explicit Sax(CocoFile& f) : f(f) {}
    CocoFile& f;
    int depth = 0, section = 0;  // 1 images, 2 annotations, 3 categories
    int seen = 0;                // bit per section found as an array
    bool top_is_object = false, in_bbox = false;
    bool element = false;  // inside an object element of a section (depth 3 and below)
    std::string top_key, field;

    void value(double v, bool integer, int64_t i) {
      if (!element) return;
      if (depth == 4 && in_bbox) {
        f.annotations.back().bbox.push_back(v);
        return;
      }
      if (depth != 3) return;
      if (section == 1) {
        auto& im = f.images.back();
        if (field == "id" && integer) im.id = i;
        else if (field == "width") im.width = v;
        else if (field == "height") im.height = v;
      } else if (section == 2) {
        auto& a = f.annotations.back();
        if (field == "id" && integer) a.id = i;
        else if (field == "image_id" && integer) a.image_id = i;
        else if (field == "category_id" && integer) a.category_id = i;
        else if (field == "score") a.score = v;
      } else if (section == 3) {
        if (field == "id" && integer) cat_id = i;
      }
    }
    void other() {
      if (element && depth == 4 && in_bbox) f.annotations.back().bbox_numbers = false;
    }
    int64_t cat_id = -1;
    std::string cat_name;

    bool null() override { return other(), true; }
    bool boolean(bool) override { return other(), true; }
    bool number_integer(number_integer_t v) override { return value(double(v), true, v), true; }
    bool number_unsigned(number_unsigned_t v) override {
      return value(double(v), v <= uint64_t(INT64_MAX), int64_t(std::min<uint64_t>(v, INT64_MAX))), true;
    }
    bool number_float(number_float_t v, const string_t&) override { return value(v, false, 0), true; }
    bool string(string_t& v) override {
      other();
      if (element && depth == 3 && section == 1 && field == "file_name") f.images.back().file_name = v;
      if (element && depth == 3 && section == 3 && field == "name") cat_name = v;
      return true;
    }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override {
      if (depth == 0) top_is_object = true;
      if (depth == 2 && section) {
        element = true;
        field.clear();
        if (section == 1) f.images.emplace_back();
        if (section == 2) f.annotations.emplace_back();
        if (section == 3) cat_id = -1, cat_name.clear();
      }
      if (depth == 3) field.clear();  // a nested object is no field of ours
      ++depth;
      return true;
    }
    bool end_object() override {
      --depth;
      if (depth == 2 && element) {
        if (section == 3 && cat_id >= 0 && !cat_name.empty()) f.categories[cat_id] = cat_name;
        element = false;
        field.clear();
      }
      return true;
    }
    bool start_array(std::size_t) override {
      if (depth == 1 && top_is_object) {
        section = top_key == "images" ? 1 : top_key == "annotations" ? 2 : top_key == "categories" ? 3 : 0;
        if (section) seen |= 1 << (section - 1);
      }
      if (element && depth == 3 && section == 2 && field == "bbox") in_bbox = true;
      else if (depth == 3) field.clear();
      ++depth;
      return true;
    }
    bool end_array() override {
      --depth;
      if (depth == 3) in_bbox = false;
      if (depth == 1) section = 0;
      return true;
    }
    bool key(string_t& k) override {
      if (depth == 1) top_key = k, section = 0;
      if (depth == 3) field = k;
      return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  };
};

}  // namespace

// Folder layouts: class sub-folders or a .txt beside
// each file for classification (0) and sound classification (200); a PASCAL
// VOC .xml beside each image for detection (1) and segmentation (3); other
// types import the files unlabeled.
json folder_annotations(obs::Scanner& scan, const std::string& bucket, const std::string& root,
                        const std::string& key, int type, json& metadata, const ListedPage* listed) {
  json labels = json::array();
  std::string dir = key.substr(0, key.rfind('/') + 1);
  std::string sibling = dir + stem(key);
  if (type == 0 || type == 200) {
    std::string txt_key = sibling + ".txt";
    auto txt = lower_ext(key) == "txt" || (listed && !listed->may_exist(txt_key)) ? std::nullopt
                                                                                    : scan.get_all(obs::ObsPath{bucket, txt_key});
    std::vector<std::string> names;
    if (txt) {
      size_t pos = 0;
      while (pos <= txt->size()) {
        size_t nl = txt->find('\n', pos);
        std::string n = txt->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        while (!n.empty() && (n.back() == '\r' || n.back() == ' ' || n.back() == '\t')) n.pop_back();
        while (!n.empty() && (n.front() == ' ' || n.front() == '\t')) n.erase(0, 1);
        if (!n.empty()) names.push_back(n);
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
    } else if (dir.size() > root.size()) {
      // imageNet layout: the deepest folder names the label.
      std::string parent = dir.substr(0, dir.size() - 1);
      names.push_back(parent.substr(parent.rfind('/') + 1));
    }
    for (auto& n : names) labels.push_back({{"name", n}, {"type", type}});
  } else if (type == 1 || type == 3) {
    std::string xml_key = sibling + ".xml";
    auto xml = listed && !listed->may_exist(xml_key) ? std::nullopt : scan.get_all(obs::ObsPath{bucket, xml_key});
    if (xml) {
      auto v = parse_voc(*xml, type == 3);
      labels = v.labels;
      if (!v.size.is_null()) metadata["@modelarts:size"] = v.size;
    }
  }
  return labels;
}

namespace {

// What reading a folder's files needs; shared, read-only, by the threads
// that count and read them.
struct FolderSource {
  obs::ObjectStore& objects;
  const ImportOptions& opt;
  const Importer& imp;
  int type;
  std::string root;    // the import folder's key, "" or ending in '/'
  std::string copies;  // import_folder's folder, "" without one

  // The files to import: those of the dataset's type, except import_folder
  // copies, which a folder import of the storage itself would otherwise
  // reach while making them (they are samples already).
  bool wanted(const std::string& key) const {
    return extension_fits(type, key) &&
           (copies.empty() || ("/" + opt.path.bucket + "/" + key).compare(0, copies.size(), copies) != 0);
  }
};

// Counts the files to import and their bytes, on a thread of its own;
// {-1, 0} when `stop` turns true first.
std::future<std::pair<int64_t, int64_t>> count_files(const FolderSource& src, std::atomic<bool>& stop) {
  struct CountStopped {};
  return std::async(std::launch::async, [&src, &stop] {
    int64_t n = 0, bytes = 0;
    try {
      src.objects.each(src.opt.path.bucket, src.root, [&](const obs::ObjectInfo& o) {
        if (stop) throw CountStopped{};
        if (src.wanted(o.key)) ++n, bytes += int64_t(o.size);
      });
    } catch (const CountStopped&) {
      return std::pair<int64_t, int64_t>{-1, 0};
    }
    return std::pair{n, bytes};
  });
}

// A listing page's files as prepared items: the annotations their folder
// layout gives them, text lines, table checks. Touches no metadata, so it
// runs on a reader thread.
std::vector<Item> read_folder_page(const FolderSource& src, std::vector<obs::ObjectInfo> objs, ListedPage listed) {
  const ImportOptions& opt = src.opt;
  begin_reader_thread();
  auto scan = src.objects.scanner();
  for (auto& o : objs) listed.keys.insert(o.key);
  std::vector<Item> items;
  for (auto& o : objs) {
    if (!src.wanted(o.key)) continue;
    if (src.type == 100 && text_lines(src.objects, opt, o.key, items)) continue;
    Item it;
    it.origin = o.key;
    it.m.path = "/" + opt.path.bucket + "/" + o.key;
    it.relative = o.key.substr(src.root.size());
    items.emplace_back();
    it.size = int64_t(o.size);
    it.mtime = o.mtime_ms;
    try {
      if (opt.import_annotations)
        it.m.labels = folder_annotations(*scan, opt.path.bucket, src.root, o.key, src.type, it.m.metadata, &listed);
      if (src.type == 400 && opt.table_columns > 0) {
        auto reader = src.objects.get(obs::ObsPath{opt.path.bucket, o.key});
        std::string why = reader ? csv_misfit(*reader, opt.table_columns, opt.with_column_header) : "the file is gone";
        if (!why.empty()) it.error = why;
      }
    } catch (const ManifestError& e) {
      it.error = e.what();
    } catch (const ApiError& e) {  // e.g. a label file beside it that is a symlink: this file fails, not the task
      it.error = e.what();
    }
    items.back() = std::move(it);
  }
  src.imp.prepare(items, *scan);
  return items;
}

}  // namespace

json run_folder(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  std::string root = opt.path.key;
  if (!root.empty() && root.back() != '/') root += '/';
  Importer imp(db, objects, tc, d, opt);
  const FolderSource src{objects, opt, imp, int(d.i64("type")), root, imp.copy_dir()};
  // The files are counted (for visible progress) on another thread while
  // the import starts; the total shows from the first batch applied after.
  // A stop or a failure ends the count at once (the total stays unknown).
  std::atomic<bool> stop_counting{false};
  std::future<std::pair<int64_t, int64_t>> counting;
  if (g.total < 0) counting = count_files(src, stop_counting);
  struct StopCount {
    std::atomic<bool>& flag;
    ~StopCount() { flag = true; }  // before `counting` waits for its thread
  } stop_count_on_exit{stop_counting};
  auto take_count = [&](bool wait) {
    if (!counting.valid() || (!wait && counting.wait_for(std::chrono::seconds(0)) != std::future_status::ready)) return;
    std::tie(g.total, g.bytes_total) = counting.get();
  };
  // Reading a page's files touches no metadata: the next page is read on
  // another thread while this one is applied.
  struct Pending {
    std::future<std::vector<Item>> items;
    std::string last;
  };
  // Two pages are read ahead of the one applied, each on its own thread.
  constexpr size_t kReadAhead = 2;
  std::deque<Pending> pending;
  auto apply_first = [&] {
    std::vector<Item> items = pending.front().items.get();
    take_count(pending.size() == 1);  // the last batch's progress carries the total
    for (auto& it : items) g.bytes_done += it.size;
    g.marker = pending.front().last;
    imp.apply(items, g, cursor_with_key(json::object(), "marker", g.marker));
    pending.pop_front();
  };
  std::string marker = g.marker;
  for (;;) {
    if (tc.stopping()) {
      for (auto& p : pending) p.items.wait();
      return g.to_json();
    }
    auto page = objects.list(opt.path.bucket, root, "", marker, int(kBatch));
    std::string last = page.objects.empty() ? "" : page.objects.back().key;
    if (!last.empty())
      pending.push_back(Pending{std::async(std::launch::async, read_folder_page, std::cref(src), std::move(page.objects),
                                           ListedPage{marker, page.truncated ? last : "", {}}),
                                last});
    while (pending.size() > kReadAhead) apply_first();
    if (!page.truncated) break;
    marker = page.next_marker;
  }
  while (!pending.empty()) apply_first();
  take_count(true);
  return g.to_json();
}

namespace {

// Where a COCO instance file's images are looked for, in order: beside the
// file, in an images/ folder beside it or its parent, or under the import
// folder and its images/.
struct CocoPlaces {
  std::string dir, parent, root;
};

// Image i of the instance file `key` as an item: the image found, its size
// and each annotation's bbox [x, y, w, h] as a bndbox; what does not fit
// becomes the item's error.
void read_coco_image(Item& it, const CocoFile& f, size_t i, const std::string& key, const CocoPlaces& at,
                     const ImportOptions& opt, obs::Scanner& scan) {
  const CocoFile::Image& im = f.images[i];
  it.origin = key + " images[" + std::to_string(i) + "]";
  try {
    if (im.file_name.empty() || im.id < 0) throw ManifestError("an image needs a file_name and an integer id");
    const std::string& name = im.file_name;
    it.origin = key + " " + name;
    std::optional<obs::ObjectInfo> found;
    for (const std::string& base : {at.dir, at.dir + "images/", at.parent + "images/", at.root, at.root + "images/"}) {
      obs::ObsPath p{opt.path.bucket, base + name};
      if (!obs::valid_key(p.key)) throw ManifestError("file_name " + name + " is not a valid object name");
      if ((found = scan.head(p))) {
        it.m.path = obs_str(p);
        it.relative = p.key.substr(at.root.size());
        break;
      }
    }
    if (!found) throw ManifestError("image " + name + " was not found beside " + key + " or in an images folder");
    it.size = int64_t(found->size);
    it.mtime = found->mtime_ms;
    if (im.width > 0 && im.height > 0) it.m.metadata["@modelarts:size"] = {int64_t(im.width), int64_t(im.height), 3};
    CocoFile::Annotation probe;
    probe.image_id = im.id;
    auto [from, to] = std::equal_range(f.annotations.begin(), f.annotations.end(), probe,
                                       [](const auto& x, const auto& y) { return x.image_id < y.image_id; });
    if (opt.import_annotations)
      for (auto a = from; a != to; ++a) {
        std::string where = "annotation " + (a->id >= 0 ? std::to_string(a->id) : std::string("?"));
        auto cat = f.categories.find(a->category_id);
        if (cat == f.categories.end()) throw ManifestError(where + ": category_id names no category of the file");
        if (a->bbox.size() != 4 || !a->bbox_numbers) throw ManifestError(where + ": bbox must be [x, y, width, height]");
        double x = a->bbox[0], y = a->bbox[1], bw = a->bbox[2], bh = a->bbox[3];
        if (x < 0 || y < 0 || bw <= 0 || bh <= 0) throw ManifestError(where + ": bbox needs x, y >= 0 and a positive size");
        json label = {{"name", cat->second}, {"type", 1},
                      {"property", {{"@modelarts:shape", "bndbox"}, {"@modelarts:feature", {{x, y}, {x + bw, y + bh}}}}}};
        if (a->score) label["score"] = *a->score;
        it.m.labels.push_back(std::move(label));
      }
  } catch (const ManifestError& e) {
    it.error = e.what();
  } catch (const ApiError& e) {
    it.error = e.what();
  }
}

}  // namespace

// COCO detection folders (the standard COCO layout, an alternative to VOC
// files for detection): every .json file under the import folder holding "images",
// "annotations" and "categories" is an instance file; each of its images is
// a sample found beside the file, in an images/ folder beside it or its
// parent, or under the import folder, and each annotation's bbox [x, y, w, h]
// becomes a bndbox. An image that cannot be found or has a malformed
// annotation fails with the reason; a file that is not COCO fails as a whole.
// The resume position is the instance file and the image index in it.
json run_coco(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  const json& prog = tc.task().progress;
  std::string root = opt.path.key;
  if (!root.empty() && root.back() != '/') root += '/';
  std::vector<std::string> files;
  objects.each(opt.path.bucket, root, [&](const obs::ObjectInfo& o) {
    if (lower_ext(o.key) == "json") files.push_back(o.key);
  });
  auto load = [&](const std::string& key) {
    return CocoFile::read(objects.get_all(obs::ObsPath{opt.path.bucket, key}).value_or(""));
  };
  if (g.total < 0) {  // first run: count the images (a file that is not COCO counts once, as a failure)
    int64_t n = 0;
    for (auto& key : files) {
      CocoFile f = load(key);
      n += f.error.empty() ? int64_t(f.images.size()) : 1;
    }
    g.total = n;
    tc.progress(g.to_json());
  }
  std::string resume_file = prog.is_object() ? get_key(prog, "coco_file") : "";
  size_t resume_image = prog.is_object() ? prog.value("coco_image", size_t(0)) : 0;
  Importer imp(db, objects, tc, d, opt);
  auto scan = objects.scanner();
  for (auto& key : files) {
    if (!resume_file.empty() && key < resume_file) continue;
    size_t first = key == resume_file ? resume_image : 0;
    CocoFile f = load(key);
    if (!f.error.empty()) {
      if (first > 0) continue;  // counted before the restart
      std::vector<Item> items(1);
      items[0].origin = key;
      items[0].error = f.error;
      imp.apply(items, g, cursor_with_key({{"coco_image", 1}}, "coco_file", key));
      continue;
    }
    std::string dir = key.substr(0, key.rfind('/') + 1);
    CocoPlaces at{dir, dir.size() > root.size() ? dir.substr(0, dir.rfind('/', dir.size() - 2) + 1) : dir, root};
    std::vector<Item> items;
    auto flush = [&](size_t next) {
      imp.prepare(items, *scan);
      imp.apply(items, g, cursor_with_key({{"coco_image", next}}, "coco_file", key));
      items.clear();
      scan = objects.scanner();  // a scanner serves one batch: folders changed meanwhile are seen anew
    };
    for (size_t i = first; i < f.images.size(); ++i) {
      if (tc.stopping()) return g.to_json();
      read_coco_image(items.emplace_back(), f, i, key, at, opt, *scan);
      if (items.size() >= kBatch) flush(i + 1);
    }
    flush(f.images.size());
  }
  return g.to_json();
}

namespace {

// A darknet YOLO folder as the import reads it.
struct YoloLayout {
  std::string names_file;                                   // relative to the folder
  std::vector<std::string> classes;                         // by class number
  std::vector<std::pair<std::string, std::string>> images;  // key, usage
};

// Reads obj.data (when there is one), the class names and the image lists
// (or, without lists, the obj_train_data/ and obj_valid_data/ folders).
// Throws 4374 when the class names are missing.
YoloLayout read_yolo_layout(obs::ObjectStore& objects, const ImportOptions& opt, const std::string& root) {
  YoloLayout y;
  auto text_of = [&](const std::string& rel) { return objects.get_all(obs::ObsPath{opt.path.bucket, root + rel}); };
  auto relative = [](std::string r) {
    r = trimmed(r);
    if (!r.empty() && r.back() == '\r') r.pop_back();
    if (r.rfind("data/", 0) == 0) r = r.substr(5);
    return r;
  };
  std::map<std::string, std::string> data;  // obj.data: key = value
  if (auto t = text_of("obj.data"))
    for (auto& l : split_lines(*t))
      if (size_t eq = l.find('='); eq != std::string::npos) data[trimmed(l.substr(0, eq))] = trimmed(l.substr(eq + 1));
  y.names_file = data.count("names") ? relative(data["names"]) : "obj.names";
  auto names_text = text_of(y.names_file);
  if (!names_text)
    throw ApiError(400, "ModelArts.4374", "import_path: the YOLO class names " + obs_str(opt.path) + y.names_file + " do not exist");
  for (auto& l : split_lines(*names_text))
    if (!trimmed(l).empty()) y.classes.push_back(trimmed(l));

  bool listed = false;
  for (auto [k, usage] : {std::pair{"train", "TRAIN"}, std::pair{"valid", "EVAL"}}) {
    auto list = text_of(data.count(k) ? relative(data[k]) : std::string(k) + ".txt");
    if (!list) continue;
    listed = true;
    for (auto& l : split_lines(*list))
      if (std::string r = relative(l); !r.empty()) y.images.emplace_back(root + r, usage);
  }
  if (!listed)
    for (auto [sub, usage] : {std::pair{"obj_train_data/", "TRAIN"}, std::pair{"obj_valid_data/", "EVAL"}})
      objects.each(opt.path.bucket, root + sub, [&, usage = usage](const obs::ObjectInfo& o) {
        if (extension_fits(0, o.key)) y.images.emplace_back(o.key, usage);
      });
  return y;
}

// The size of the image `p` from its header: usually in the first 4 KB; a
// JPEG with a large header needs more.
std::optional<std::pair<int, int>> image_size_of(obs::ObjectStore& objects, const obs::ObsPath& p) {
  auto r = objects.get(p);
  std::string head;
  std::optional<std::pair<int, int>> size;
  for (size_t want : {size_t(4096), kImageHeadBytes}) {
    size_t have = head.size();
    head.resize(want);
    while (r && have < want)
      if (size_t n = r->read(head.data() + have, want - have)) have += n;
      else break;
    head.resize(have);
    if ((size = image_size(head)) || have < want) break;
  }
  return size;
}

// The bndbox labels of an image's `class x_center y_center width height`
// lines (fractions of its `size`); throws ManifestError naming the line.
json yolo_boxes(const std::vector<std::string>& lines, std::pair<int, int> size, const YoloLayout& y, const std::string& key) {
  json labels = json::array();
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string where = key.substr(0, key.rfind('.')) + ".txt line " + std::to_string(n + 1);
    std::istringstream in(lines[n]);
    long long cls = -1;
    double v[4];
    std::string extra;
    if (!(in >> cls >> v[0] >> v[1] >> v[2] >> v[3]) || (in >> extra))
      throw ManifestError(where + ": must be `class x_center y_center width height`");
    if (cls < 0 || size_t(cls) >= y.classes.size())
      throw ManifestError(where + ": class " + std::to_string(cls) + " is not in " + y.names_file);
    if (std::any_of(v, v + 4, [](double x) { return !(x >= 0 && x <= 1); }) || v[2] <= 0 || v[3] <= 0)
      throw ManifestError(where + ": the box must be fractions in [0, 1] with a positive width and height");
    double W = size.first, H = size.second;
    double x1 = std::max(0.0, (v[0] - v[2] / 2) * W), y1 = std::max(0.0, (v[1] - v[3] / 2) * H);
    double x2 = std::min(W, (v[0] + v[2] / 2) * W), y2 = std::min(H, (v[1] + v[3] / 2) * H);
    if (x2 <= x1 || y2 <= y1) throw ManifestError(where + ": the box lies outside the image");
    labels.push_back({{"name", y.classes[size_t(cls)]}, {"type", 1},
                      {"property", {{"@modelarts:shape", "bndbox"}, {"@modelarts:feature", {{x1, y1}, {x2, y2}}}}}});
  }
  return labels;
}

// An image of the layout as an item: the image, its usage and size, and
// the boxes of its <stem>.txt; what does not fit becomes the item's error.
void read_yolo_image(Item& it, const YoloLayout& y, const std::string& key, const std::string& usage, const std::string& root,
                     const ImportOptions& opt, obs::ObjectStore& objects, obs::Scanner& scan) {
  it.origin = key;
  try {
    obs::ObsPath p{opt.path.bucket, key};
    if (!obs::valid_key(key)) throw ManifestError("the list names " + key + ", not a valid object name");
    auto info = scan.head(p);
    if (!info) throw ManifestError("image " + key + " does not exist");
    it.m.path = obs_str(p);
    it.m.usage = usage;
    it.relative = key.substr(root.size());
    it.size = int64_t(info->size);
    it.mtime = info->mtime_ms;
    auto boxes = opt.import_annotations ? scan.get_all(obs::ObsPath{opt.path.bucket, key.substr(0, key.rfind('.')) + ".txt"})
                                        : std::nullopt;
    std::vector<std::string> lines;
    if (boxes)
      for (auto& l : split_lines(*boxes))
        if (!trimmed(l).empty()) lines.push_back(l);
    // The image's size: the boxes need it, and so does annotating the image later.
    std::optional<std::pair<int, int>> size = image_size_of(objects, p);
    if (size) it.m.metadata["@modelarts:size"] = {size->first, size->second, 3};
    else if (!lines.empty())
      throw ManifestError("the size of " + key + " cannot be read from its header (PNG, JPEG, GIF or BMP); YOLO boxes need it");
    if (!lines.empty()) {
      json labels = yolo_boxes(lines, *size, y, key);
      for (auto& l : labels) it.m.labels.push_back(std::move(l));
    }
  } catch (const ManifestError& e) {
    it.error = e.what();
  } catch (const ApiError& e) {
    it.error = e.what();
  }
}

}  // namespace

// YOLO folders (the darknet layout CVAT writes):
// obj.names gives the class names by line; obj.data may name that file and
// the train and valid lists. Images come from the lists (paths relative to
// the folder; a leading "data/" is dropped) with usage TRAIN and EVAL or,
// without lists, from obj_train_data/ and obj_valid_data/. Each image's
// <stem>.txt holds `class x_center y_center width height` lines in
// fractions of the image, which the image's own header (PNG, JPEG, GIF,
// BMP) turns into pixels. The resume position is the image's index.
json run_yolo(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  const json& prog = tc.task().progress;
  std::string root = opt.path.key;
  if (!root.empty() && root.back() != '/') root += '/';
  YoloLayout y = read_yolo_layout(objects, opt, root);
  const auto& images = y.images;
  if (g.total < 0) {
    g.total = int64_t(images.size());
    tc.progress(g.to_json());
  }
  // Resume after the last image applied, found by its key: files added to
  // the folders meanwhile would shift a bare index.
  size_t first = prog.is_object() ? prog.value("yolo_image", size_t(0)) : 0;
  if (std::string last = prog.is_object() ? get_key(prog, "yolo_last") : ""; !last.empty()) {
    auto at = std::find_if(images.begin(), images.end(), [&](const auto& im) { return im.first == last; });
    if (at != images.end()) first = size_t(at - images.begin()) + 1;
  }
  Importer imp(db, objects, tc, d, opt);
  auto scan = objects.scanner();
  std::vector<Item> items;
  auto flush = [&](size_t next) {
    imp.prepare(items, *scan);
    imp.apply(items, g, cursor_with_key({{"yolo_image", next}}, "yolo_last", next > 0 ? images[next - 1].first : ""));
    items.clear();
    scan = objects.scanner();  // a scanner serves one batch: folders changed meanwhile are seen anew
  };
  for (size_t i = first; i < images.size(); ++i) {
    if (tc.stopping()) return g.to_json();
    read_yolo_image(items.emplace_back(), y, images[i].first, images[i].second, root, opt, objects, *scan);
    if (items.size() >= kBatch) flush(i + 1);
  }
  flush(images.size());
  return g.to_json();
}

}  // namespace atelier::data
