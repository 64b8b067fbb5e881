// A member's items of a team labeling task: listing
// them, annotating one's own, reviewing the labeled ones.
#include <algorithm>

#include "common/clock.h"
#include "common/error.h"
#include "data/annotation_checks.h"
#include "data/label_defs.h"
#include "data/query_params.h"
#include "data/render.h"
#include "data/sample_writer.h"
#include "data/search.h"
#include "data/types.h"
#include "labeling/team_tasks.h"

namespace atelier::labeling {

using http::Context;
using http::Response;
using store::Row;

namespace {

// sample_state of the member lists, as item states (case-insensitive).
std::optional<int> state_of(std::string v) {
  for (auto& c : v) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (v == "__unannotated__" || v == "un_annotation" || v == "__none__") return kUnannotated;
  if (v == "__unreviewed__" || v == "unreviewed") return kUnreviewed;
  if (v == "__uncheck__" || v == "uncheck" || v == "__reviewed__") return kUncheck;
  if (v == "__accepted__" || v == "accepted") return kAccepted;
  if (v == "__rejected__" || v == "rejected") return kItemRejected;
  return std::nullopt;
}

constexpr const char* kItemSelect =
    "SELECT s.*, i.worker_id, i.state AS item_state, i.labels AS item_labels, i.comment, i.score FROM task_items i "
    "JOIN samples s ON s.dataset_id = ? AND s.seq = i.seq WHERE ";

}  // namespace

std::vector<Verdict> read_verdicts(const JsonIn& in, const std::string& dataset_id) {
  const json& comments = in.arr("comments");
  if (comments.empty()) in.fail("comments", "must hold at least one verdict");
  std::vector<Verdict> vs;
  for (size_t i = 0; i < comments.size(); ++i) {
    JsonIn c(comments[i], "comments[" + std::to_string(i) + "]");
    Verdict v;
    auto accept = c.opt_bool("accept");
    if (!accept) c.fail("accept", "is required (true or false)");
    v.accept = *accept;
    v.comment = c.opt_str("comment").value_or("");
    if (utf8_length(v.comment) > 256 || v.comment.find_first_of("!<>=&\"'") != std::string::npos)
      c.fail("comment", "0 to 256 characters without ! < > = & \" '");
    v.score = c.opt_str("score").value_or("");
    if (!v.score.empty() && v.score != "A" && v.score != "B" && v.score != "C" && v.score != "D") c.fail("score", "A, B, C or D");
    v.sample_id = c.str("sample_id");
    v.seq = data::sample_seq(dataset_id, v.sample_id);
    v.worker = c.opt_str("worker_id").value_or("");
    vs.push_back(std::move(v));
  }
  return vs;
}

json item_json(const Context& ctx, const Row& r) {
  json j = data::sample_json(ctx, r, /*labels=*/false);  // the item's labels, not the dataset's
  j["worker_id"] = r.str("worker_id");
  j["labels"] = json::parse(r.str("item_labels"), nullptr, false);
  j["sample_status"] = std::string(kStateKeys[std::clamp<int64_t>(r.i64("item_state"), 0, kItemRejected)]);
  if (!r.str("comment").empty()) j["review_comment"] = r.str("comment");
  if (!r.str("score").empty()) j["review_score"] = r.str("score");
  return j;
}

// The task's items a caller may see: a labeler their own, a reviewer and
// the owner all (optionally one worker's).
std::string TeamTasksApi::item_scope(const Context& ctx, const Row& t, store::Params& p) {
  std::string where = "i.task_id = ?";
  p.push_back(t.str("id"));
  auto m = me(ctx);
  if (m && m->role == 0) {
    where += " AND i.worker_id = ?";
    p.push_back(m->worker_id);
  } else if (auto w = data::qp(ctx, "worker_id")) {
    where += " AND i.worker_id = ?";
    p.push_back(*w);
  }
  return where;
}

Response TeamTasksApi::list_items(Context& ctx) {
  auto t = task_row(ctx);
  sync_new(t);
  store::Params p{t.str("dataset_id")};
  std::string where = item_scope(ctx, t, p);
  if (auto v = data::qp(ctx, "sample_state")) {
    auto st = state_of(*v);
    if (!st) throw bad_request("Invalid parameter sample_state: " + *v);
    where += " AND i.state = ?";
    p.push_back(int64_t(*st));
  }
  // label_name: items whose labels (stored as written, keys sorted) name it.
  if (auto v = data::qp(ctx, "label_name"); v && !v->empty()) {
    where += " AND " + store::contains_ci("i.labels");
    p.push_back(store::contains_ci_pattern("\"name\":" + json(*v).dump()));
  }
  // search_conditions (as in sample lists), ANDed, over the items' samples.
  if (auto v = data::qp(ctx, "search_conditions"); v && !v->empty()) {
    json conds = parse_json_limited(*v);
    if (!conds.is_array()) throw bad_request("Invalid parameter search_conditions: must be a JSON array");
    p.push_back(t.str("dataset_id"));
    std::string cond = "EXISTS (SELECT 1 FROM samples s WHERE s.dataset_id = ? AND s.seq = i.seq";
    for (auto& c : conds) cond += " AND (" + data::condition_sql(c, p) + ")";
    where += " AND " + cond + ")";
  }
  auto [offset, limit] = data::page(ctx, 10, 100);
  store::Params q(p.begin() + 1, p.end());  // the item filter's binds
  auto total = db_.query_one("SELECT COUNT(*) AS n FROM task_items i WHERE " + where, q);
  json list = json::array();
  // The page's keys first, from the indexes alone: SQLite builds every
  // row it skips for an OFFSET, and a deep page would join thousands of
  // samples only to drop them. One labeler's items come in the order
  // of their primary key (worker, seq).
  bool one = where.find("i.worker_id = ?") != std::string::npos;
  std::string order = one ? " ORDER BY i.seq" : " ORDER BY i.seq, i.worker_id";
  std::string sql = "SELECT s.*, i.worker_id, i.state AS item_state, i.labels AS item_labels, i.comment, i.score FROM "
                    "(SELECT i.seq, i.worker_id FROM task_items i WHERE " + where + order + " LIMIT ? OFFSET ?) k "
                    "JOIN task_items i ON i.task_id = ? AND i.worker_id = k.worker_id AND i.seq = k.seq "
                    "JOIN samples s ON s.dataset_id = ? AND s.seq = i.seq" + order;
  q.push_back(limit);
  q.push_back(offset);
  q.push_back(t.str("id"));
  q.push_back(t.str("dataset_id"));
  for (auto& r : db_.query(sql, q)) list.push_back(item_json(ctx, r));
  return http::json_response(200, {{"sample_count", total ? total->i64("n") : 0}, {"samples", list}});
}

Response TeamTasksApi::get_item(Context& ctx) {
  auto t = task_row(ctx);
  int64_t seq = data::sample_seq(t.str("dataset_id"), ctx.param("sample_id"));
  store::Params p{t.str("dataset_id")};
  std::string where = item_scope(ctx, t, p) + " AND i.seq = ?";
  p.push_back(seq);
  auto rows = db_.query(std::string(kItemSelect) + where + " ORDER BY i.worker_id LIMIT 1", p);
  if (rows.empty()) throw ApiError(404, "ModelArts.4343", "The sample " + ctx.param("sample_id") + " is not in your share of the task.");
  return http::json_response(200, item_json(ctx, rows[0]));
}

// A labeler submits annotations for their own items: the labels
// must exist in the dataset and fit its samples, as in manual annotation.
// All or none.
Response TeamTasksApi::annotate(Context& ctx) {
  auto t = task_row(ctx);
  auto m = me(ctx);
  int st = int(t.i64("status"));
  if (st != kRunning && st != kRejected)
    throw ApiError(400, "ModelArts.4621", "The task does not take annotations now (status " + std::to_string(st) + ").");
  auto in = ctx.in();
  const json& samples = in.arr("samples");
  if (samples.empty()) in.fail("samples", "must hold at least one sample");
  auto d = db_.query_one("SELECT * FROM datasets WHERE id = ?", {t.str("dataset_id")});
  auto defined = data::defined_labels(db_, t.str("dataset_id"));
  struct Change {
    int64_t seq;
    std::string worker;
    json labels;
  };
  std::vector<Change> changes;
  for (size_t i = 0; i < samples.size(); ++i) {
    JsonIn s(samples[i], "samples[" + std::to_string(i) + "]");
    std::string sid = s.str("sample_id");
    std::string worker = m && m->role == 0 ? m->worker_id : s.opt_str("worker_id").value_or("");
    if (worker.empty()) s.fail("worker_id", "is required (whose item)");
    int64_t seq = data::sample_seq(t.str("dataset_id"), sid);
    auto row = db_.query_one("SELECT s.*, i.state AS item_state FROM task_items i JOIN samples s ON s.dataset_id = ? "
                             "AND s.seq = i.seq WHERE i.task_id = ? AND i.worker_id = ? AND i.seq = ?",
                             {t.str("dataset_id"), t.str("id"), worker, seq});
    if (!row) throw ApiError(404, "ModelArts.4343", "The sample " + sid + " is not in the share of worker " + worker + ".");
    int ist = int(row->i64("item_state"));
    if (ist != kUnannotated && ist != kUnreviewed && ist != kItemRejected)
      throw ApiError(400, "ModelArts.4621", "The sample " + sid + " has been reviewed; it cannot change now.");
    json meta = json::parse(row->str("metadata"), nullptr, false);
    data::SampleFacts facts{int(d->i64("type")), row->i64("size"), meta.is_object() ? meta : json::object()};
    changes.push_back({seq, worker, data::checked_labels(s.has("labels") ? s.arr("labels") : json::array(), facts,
                                                         s.field("labels"), defined, ctx.caller.user_name)});
  }
  int64_t now = clock::now_ms();
  db_.transaction([&] {
    for (auto& c : changes)
      db_.exec("UPDATE task_items SET labels = ?, state = ?, updated_at = ? WHERE task_id = ? AND worker_id = ? AND seq = ?",
               {c.labels.dump(), c.labels.empty() ? int(kUnannotated) : int(kUnreviewed), now, t.str("id"), c.worker, c.seq});
  });
  json results = json::array();
  for (size_t i = 0; i < changes.size(); ++i) results.push_back({{"success", true}});
  return http::json_response(200, {{"success", true}, {"results", results}});
}

// Reviewers pass (uncheck: awaiting the owner's acceptance) or reject
// (back to the labeler, with the comment) labeled items.
Response TeamTasksApi::review(Context& ctx) {
  auto t = task_row(ctx);
  auto vs = read_verdicts(ctx.in(), t.str("dataset_id"));
  for (auto& v : vs) {
    if (v.worker.empty()) throw bad_request("Invalid parameter comments: worker_id is required (whose item)");
    auto it = db_.query_one("SELECT state FROM task_items WHERE task_id = ? AND worker_id = ? AND seq = ?", {t.str("id"), v.worker, v.seq});
    if (!it) throw ApiError(404, "ModelArts.4343", "No item of worker " + v.worker + " for sample " + v.sample_id + ".");
    if (it->i64("state") != kUnreviewed)
      throw ApiError(400, "ModelArts.4621", "The item of sample " + v.sample_id + " is not awaiting review.");
  }
  int64_t now = clock::now_ms();
  db_.transaction([&] {
    for (auto& v : vs)
      db_.exec("UPDATE task_items SET state = ?, comment = ?, score = ?, updated_at = ? WHERE task_id = ? AND worker_id = ? AND seq = ?",
               {v.accept ? int(kUncheck) : int(kItemRejected), v.comment, v.score, now, t.str("id"), v.worker, v.seq});
  });
  return http::json_response(200, json::object());
}

}  // namespace atelier::labeling
