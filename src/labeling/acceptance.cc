// Acceptances of team labeling tasks.
//
// An acceptance samples the labeled items (labeled, reviewed or not, and
// not yet accepted): `sampling_num` of them, or `sampling_rate` of them
// (at least one), chosen by a hash of the acceptance id, so the choice is
// random-looking but reproducible. The owner (or a team manager) gives a
// verdict per sampled item with batch-comment, then ends it with status:
// accepted labels go into the dataset as manual annotations, rejected
// items go back to their labelers with the comments.

#include <algorithm>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "data/query_params.h"
#include "data/sample_writer.h"
#include "labeling/team_tasks.h"

namespace atelier::labeling {

using http::Context;
using http::Response;
using store::Row;

namespace {

// The letter grade of an average score (A = 4 ... D = 1); "" when none.
std::string grade(double avg) {
  if (avg <= 0) return "";
  return avg >= 3.5 ? "A" : avg >= 2.5 ? "B" : avg >= 1.5 ? "C" : "D";
}

}  // namespace

// CheckTaskStats of one acceptance (or of all of a task's, check == "").
json TeamTasksApi::check_stats(const std::string& task, const std::string& check) {
  std::string where = check.empty() ? "a.task_id = ?" : "a.id = ?";
  auto c = db_.query_one("SELECT COUNT(*) AS sampled, SUM(CASE WHEN i.verdict IS NOT NULL THEN 1 ELSE 0 END) AS checked, "
                         "SUM(CASE WHEN i.verdict = 1 THEN 1 ELSE 0 END) AS accepted, "
                         "SUM(CASE WHEN i.verdict = 0 THEN 1 ELSE 0 END) AS rejected, "
                         "SUM(CASE i.score WHEN 'A' THEN 4 WHEN 'B' THEN 3 WHEN 'C' THEN 2 WHEN 'D' THEN 1 ELSE 0 END) AS points, "
                         "SUM(CASE WHEN i.score <> '' THEN 1 ELSE 0 END) AS scored "
                         "FROM acceptance_items i JOIN acceptances a ON a.id = i.check_id WHERE " + where + " AND a.status <> 2",
                         {check.empty() ? task : check});
  auto a = check.empty() ? db_.query_one("SELECT SUM(total) AS total, SUM(sampling_num) AS num FROM acceptances WHERE task_id = ? "
                                         "AND status <> 2", {task})
                         : db_.query_one("SELECT total, sampling_num AS num, sampling_rate FROM acceptances WHERE id = ?", {check});
  auto n = [](const std::optional<Row>& r, const char* k) { return r && !r->null(k) ? r->i64(k) : int64_t(0); };
  int64_t sampled = n(c, "sampled"), checked = n(c, "checked"), accepted = n(c, "accepted"), scored = n(c, "scored");
  json j = {{"task_id", check},
            {"sampling_num", n(a, "num")},
            {"total_sample_count", n(a, "total")},
            {"sampled_sample_count", sampled},
            {"checked_sample_count", checked},
            {"unchecked_sample_count", sampled - checked},
            {"accepted_sample_count", accepted},
            {"rejected_sample_count", n(c, "rejected")},
            {"pass_rate", checked ? double(accepted) / double(checked) : 0.0},
            {"score", grade(scored ? double(n(c, "points")) / double(scored) : 0)},
            {"total_score", n(c, "points")}};
  j["sampling_rate"] = a && !check.empty() && !a->null("sampling_rate") ? (*a)["sampling_rate"].f64()
                       : n(a, "total") ? double(n(a, "num")) / double(n(a, "total")) : 0.0;
  return j;
}

Response TeamTasksApi::start_acceptance(Context& ctx) {
  auto t = task_row(ctx);
  int st = int(t.i64("status"));
  if (st == kAccepting || st == kSyncing || st == kSampling)
    throw ApiError(400, "ModelArts.4623", "An acceptance is already running for this task.");
  if (st != kRunning && st != kRejected)
    throw ApiError(400, "ModelArts.4621", "The task is not running (status " + std::to_string(st) + ").");
  auto in = ctx.in();
  if (in.has("sampling_num") == in.has("sampling_rate")) in.fail("sampling_num", "give sampling_num or sampling_rate");
  auto pool = db_.query("SELECT seq, worker_id FROM task_items WHERE task_id = ? AND state IN (?, ?)",
                        {t.str("id"), int(kUnreviewed), int(kUncheck)});
  if (pool.empty()) throw ApiError(400, "ModelArts.4625", "No labeled sample awaits acceptance.");
  int64_t total = int64_t(pool.size()), num = 0;
  std::optional<double> rate;
  if (in.has("sampling_num")) {
    num = *in.opt_int("sampling_num", 1, INT64_MAX);
    if (num > total) in.fail("sampling_num", "is more than the " + std::to_string(total) + " labeled samples");
  } else {
    const json& v = in.node()["sampling_rate"];
    if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1) in.fail("sampling_rate", "must be in (0, 1]");
    rate = v.get<double>();
    num = std::max<int64_t>(1, std::llround(*rate * double(total)));
  }
  std::string id = ids::base62_19();
  std::vector<std::pair<std::string, size_t>> keyed;
  for (size_t i = 0; i < pool.size(); ++i)
    keyed.push_back({crypto::md5_hex(id + ":" + std::to_string(pool[i].i64("seq")) + ":" + pool[i].str("worker_id")), i});
  std::sort(keyed.begin(), keyed.end());
  int64_t now = clock::now_ms();
  db_.transaction([&] {
    db_.exec("INSERT INTO acceptances (id, task_id, status, sampling_num, sampling_rate, total, created_at) VALUES (?, ?, 0, ?, ?, ?, ?)",
             {id, t.str("id"), num, rate ? store::Value(*rate) : store::Value(), total, now});
    for (int64_t k = 0; k < num; ++k) {
      const Row& r = pool[keyed[size_t(k)].second];
      db_.exec("INSERT INTO acceptance_items (check_id, seq, worker_id) VALUES (?, ?, ?)", {id, r.i64("seq"), r.str("worker_id")});
    }
    db_.exec("UPDATE workforce_tasks SET status = ?, check_id = ?, updated_at = ? WHERE id = ?", {int(kAccepting), id, now, t.str("id")});
  });
  return http::json_response(200, {{"task_id", id}});
}

Response TeamTasksApi::judge(Context& ctx) {
  auto t = task_row(ctx);
  if (t.i64("status") != kAccepting) throw ApiError(400, "ModelArts.4621", "No acceptance is open on this task.");
  std::vector<Verdict> vs;
  for (auto& v : read_verdicts(ctx.in(), t.str("dataset_id"))) {  // no worker_id: every sampled item of the sample
    auto items = db_.query("SELECT worker_id FROM acceptance_items WHERE check_id = ? AND seq = ?" +
                              std::string(v.worker.empty() ? "" : " AND worker_id = ?"),
                           v.worker.empty() ? store::Params{t.str("check_id"), v.seq}
                                           : store::Params{t.str("check_id"), v.seq, v.worker});
    if (items.empty()) throw ApiError(404, "ModelArts.4343", "The sample " + v.sample_id + " is not among the sampled ones.");
    for (auto& it : items) {
      vs.push_back(v);
      vs.back().worker = it.str("worker_id");
    }
  }
  db_.transaction([&] {
    for (auto& v : vs)
      db_.exec("UPDATE acceptance_items SET verdict = ?, comment = ?, score = ? WHERE check_id = ? AND seq = ? AND worker_id = ?",
               {int(v.accept), v.comment, v.score, t.str("check_id"), v.seq, v.worker});
  });
  return http::json_response(200, json::object());
}

Response TeamTasksApi::report(Context& ctx) {
  auto t = task_row(ctx);
  std::string check = t.str("check_id");
  if (auto v = data::qp(ctx, "checking_task_id")) {
    if (!db_.query_one("SELECT id FROM acceptances WHERE id = ? AND task_id = ?", {*v, t.str("id")}))
      throw ApiError(400, "ModelArts.4612", "The acceptance " + *v + " does not exist.");
    check = *v;
  }
  if (check.empty()) throw ApiError(400, "ModelArts.4612", "The task has had no acceptance.");
  json workers = json::array();
  for (auto& w : db_.query("SELECT i.worker_id, m.email, COUNT(*) AS sampled, SUM(CASE WHEN verdict IS NOT NULL THEN 1 ELSE 0 END) "
                           "AS checked, SUM(CASE WHEN verdict = 1 THEN 1 ELSE 0 END) AS accepted, SUM(CASE WHEN verdict = 0 THEN 1 "
                           "ELSE 0 END) AS rejected, SUM(CASE score WHEN 'A' THEN 4 WHEN 'B' THEN 3 WHEN 'C' THEN 2 WHEN 'D' THEN 1 "
                           "ELSE 0 END) AS points, SUM(CASE WHEN score <> '' THEN 1 ELSE 0 END) AS scored FROM acceptance_items i "
                           "LEFT JOIN task_members m ON m.task_id = ? AND m.worker_id = i.worker_id WHERE i.check_id = ? "
                           "GROUP BY i.worker_id, m.email ORDER BY i.worker_id",
                           {t.str("id"), check})) {
    int64_t checked = w.i64("checked"), scored = w.i64("scored");
    workers.push_back({{"worker_id", w.str("worker_id")},
                       {"email", w.null("email") ? "" : w.str("email")},
                       {"sampled_sample_count", w.i64("sampled")},
                       {"checked_sample_count", checked},
                       {"accepted_sample_count", w.i64("accepted")},
                       {"rejected_sample_count", w.i64("rejected")},
                       {"pass_rate", checked ? double(w.i64("accepted")) / double(checked) : 0.0},
                       {"average_score", scored ? double(w.i64("points")) / double(scored) : 0.0},
                       {"score", grade(scored ? double(w.i64("points")) / double(scored) : 0)}});
  }
  return http::json_response(200, {{"checking_stats", check_stats(t.str("id"), check)},
                                   {"total_stats", check_stats(t.str("id"), "")},
                                   {"worker_stats", workers}});
}

Response TeamTasksApi::end_acceptance(Context& ctx) {
  auto t = task_row(ctx);
  if (t.i64("status") != kAccepting) throw ApiError(400, "ModelArts.4621", "No acceptance is open on this task.");
  auto in = ctx.in();
  if (!in.has("action")) in.fail("action", "is required (0 to 5)");
  int action = int(*in.opt_int("action", 0, 5));
  bool overwrite = in.opt_bool("overwrite_last_result").value_or(false);
  const std::string task = t.str("id"), check = t.str("check_id"), ds = t.str("dataset_id");
  if (action == 3) {  // samples whose labelers disagree (repetition > 1)
    auto [offset, limit] = data::page(ctx, 10, 100);
    std::string conflict = "SELECT seq FROM task_items WHERE task_id = ? AND state IN (1, 2) AND seq IN (SELECT seq FROM "
                           "acceptance_items WHERE check_id = ?) GROUP BY seq HAVING COUNT(DISTINCT labels) > 1";
    auto total = db_.query_one("SELECT COUNT(*) AS n FROM (" + conflict + ") c", {task, check});
    json list = json::array();
    for (auto& r : db_.query("SELECT s.*, i.worker_id, i.state AS item_state, i.labels AS item_labels, i.comment, i.score "
                             "FROM task_items i JOIN samples s ON s.dataset_id = ? AND s.seq = i.seq WHERE i.task_id = ? AND "
                             "i.seq IN (" + conflict + " ORDER BY seq LIMIT ? OFFSET ?) ORDER BY i.seq, i.worker_id",
                             {ds, task, task, check, limit, offset}))
      list.push_back(item_json(ctx, r));
    return http::json_response(200, {{"sample_count", total ? total->i64("n") : 0}, {"samples", list}});
  }
  int64_t now = clock::now_ms();
  int64_t written = 0;
  db_.transaction([&] {
    if (action == 2) {  // cancel: as if it never was
      db_.exec("UPDATE acceptances SET status = 2, action = 2, ended_at = ? WHERE id = ?", {now, check});
      db_.exec("UPDATE workforce_tasks SET status = ?, updated_at = ? WHERE id = ?", {int(kRunning), now, task});
      return;
    }
    // Every labeled item, with the verdict of this acceptance if it was sampled.
    auto items = db_.query("SELECT i.seq, i.worker_id, i.labels, a.verdict, a.comment AS check_comment, "
                           "CASE WHEN a.seq IS NULL THEN 0 ELSE 1 END AS sampled FROM task_items i "
                           "LEFT JOIN acceptance_items a ON a.check_id = ? AND a.seq = i.seq AND a.worker_id = i.worker_id "
                           "WHERE i.task_id = ? AND i.state IN (?, ?) ORDER BY i.seq, i.worker_id",
                           {check, task, int(kUnreviewed), int(kUncheck)});
    data::SampleWriter w(db_, ds);
    int64_t last_written = -1;
    for (auto& it : items) {
      bool judged = it.i64("sampled") && !it.null("verdict");
      bool ok = judged && it.i64("verdict") == 1, bad = judged && it.i64("verdict") == 0;
      // 0 accept all; 1 reject all; 4 all but the rejected; 5 only the accepted (the rejected go back).
      bool accept = action == 0 || (action == 4 && !bad) || (action == 5 && ok);
      bool reject = action == 1 || ((action == 4 || action == 5) && bad);
      if (reject) {
        db_.exec("UPDATE task_items SET state = ?, comment = ?, updated_at = ? WHERE task_id = ? AND worker_id = ? AND seq = ?",
                 {int(kItemRejected), it.null("check_comment") ? std::string() : it.str("check_comment"), now, task,
                  it.str("worker_id"), it.i64("seq")});
        continue;
      }
      if (!accept) continue;
      db_.exec("UPDATE task_items SET state = ?, updated_at = ? WHERE task_id = ? AND worker_id = ? AND seq = ?",
               {int(kAccepted), now, task, it.str("worker_id"), it.i64("seq")});
      if (it.i64("seq") == last_written) continue;  // repetition: the first accepted labeler's labels
      auto row = db_.query_one("SELECT * FROM samples WHERE dataset_id = ? AND seq = ?", {ds, it.i64("seq")});
      if (!row) continue;  // deleted from the dataset meanwhile
      if (!overwrite && row->str("state") != "UN_ANNOTATION") continue;  // keep what the dataset has
      w.relabel(*row, json::parse(it.str("labels")), nullptr, it.str("worker_id"), nullptr);
      last_written = it.i64("seq");
      ++written;
    }
    w.commit();
    auto left = db_.query_one("SELECT COUNT(*) AS n FROM task_items WHERE task_id = ? AND state <> ?", {task, int(kAccepted)});
    auto back = db_.query_one("SELECT COUNT(*) AS n FROM task_items WHERE task_id = ? AND state = ?", {task, int(kItemRejected)});
    int next = back && back->i64("n") > 0 ? kRejected : left && left->i64("n") == 0 ? kPassed : kRunning;
    db_.exec("UPDATE acceptances SET status = 1, action = ?, ended_at = ? WHERE id = ?", {action, now, check});
    db_.exec("UPDATE workforce_tasks SET status = ?, updated_at = ? WHERE id = ?", {next, now, task});
  });
  return http::json_response(200, {{"sample_count", written}, {"samples", json::array()}});
}

}  // namespace atelier::labeling
