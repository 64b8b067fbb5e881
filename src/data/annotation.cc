// Manual annotation: a batch of samples relabeled whole or not at all.
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
#include "data/label_defs.h"
#include "data/manifest.h"
#include "data/sample_writer.h"
#include "data/transfer.h"
#include "iam/iam.h"
#include "obs/buckets.h"

#include <spdlog/spdlog.h>

namespace atelier::data {

Response DataApi::annotate(Context& ctx) {
  auto d = dataset(ctx);
  std::string ds = d.str("id");
  int type = int(d.i64("type"));
  auto in = ctx.in();
  const json& items = in.arr("samples");
  std::vector<std::string> wanted;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string f = "samples[" + std::to_string(i) + "]";
    if (!items[i].is_object()) in.fail(f.c_str(), "must be an object");
    wanted.push_back(JsonIn(items[i], in.field(f.c_str())).str("sample_id"));
  }
  if (items.size() > 10000) in.fail("samples", "at most 10000 samples per request");
  std::string who = "human/" + ctx.caller.user_name + "/" + ctx.caller.user_name;
  if (auto e = in.opt_str("email")) who = "human/" + *e;
  struct Change {
    Row row;
    json labels, metadata;
    bool has_metadata = false;
    std::optional<std::string> usage;
  };
  // Each change is decided on the sample as it is inside the
  // transaction that applies it: a concurrent relabel of the same
  // sample commits before or after, never in between (the counters
  // move by the difference from the labels really replaced).
  json results = json::array();
  db.transaction([&] {
    auto rows = sample_rows(ds, wanted);
    // Labels must already be defined in the dataset rather than created on
    // the fly: a typo must not mint a new class.
    auto defined = defined_labels(db, ds);
    std::vector<Change> changes;
    std::set<std::string> seen;
    for (size_t i = 0; i < items.size(); ++i) {
      std::string f = "samples[" + std::to_string(i) + "]";
      JsonIn s(items[i], in.field(f.c_str()));
      std::string id = s.str("sample_id");
      if (!seen.insert(id).second) s.fail("sample_id", "appears twice in the batch");
      Change c{rows[i], json::array(), json::object(), false, std::nullopt};
      c.metadata = json::parse(c.row.str("metadata"), nullptr, false);
      if (s.has("metadata")) {
        if (!items[i]["metadata"].is_object()) s.fail("metadata", "must be an object");
        for (auto& [k, v] : items[i]["metadata"].items()) c.metadata[k] = v;
        c.has_metadata = true;
      }
      if (s.has("sample_usage")) c.usage = s.enum_str("sample_usage", {"TRAIN", "EVAL", "TEST", "INFERENCE"});
      SampleFacts facts{type, c.row.i64("size"), c.metadata};
      c.labels = checked_labels(s.has("labels") ? items[i]["labels"] : json::array(), facts,
                                in.field(f.c_str()) + ".labels", defined, who);
      changes.push_back(std::move(c));
    }
    SampleWriter w(db, ds);
    for (auto& c : changes) {
      w.relabel(c.row, c.labels, c.has_metadata ? &c.metadata : nullptr, c.labels.empty() ? "" : who,
                c.usage ? &*c.usage : nullptr);
      results.push_back({{"success", true}});
    }
    w.commit();
    touch(ds);
  });
  return json_response(200, {{"success", true}, {"results", results}});
}

}  // namespace atelier::data
