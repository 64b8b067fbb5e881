// What the files of team labeling tasks share: team_tasks.cc (the tasks, their
// members and the assignment of samples), items.cc (a member's items:
// listing, annotation, review) and acceptance.cc (acceptances).
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/mail.h"
#include "http/router.h"
#include "iam/iam.h"
#include "store/db.h"

namespace atelier::labeling {

// Task status, as the API reports it.
enum TaskStatus { kStarting = 0, kRunning = 1, kAccepting = 2, kPassed = 3, kRejected = 4, kSyncing = 5, kCreated = 6, kSampling = 7 };
// Item state: the states a task's stats count.
enum ItemState { kUnannotated = 0, kUnreviewed = 1, kUncheck = 2, kAccepted = 3, kItemRejected = 4 };
// The stats key of each item state.
inline constexpr const char* kStateKeys[] = {"un_annotation", "unreviewed", "uncheck", "accepted", "rejected"};

// A member of a task, with the role their team gives them.
struct Member {
  std::string worker_id, workforce_id, email, user_id;
  int role = 0;
};

// One SampleComment of a review or an acceptance: the sample, whose
// item (worker_id; may be empty where one sample has one item), the verdict.
struct Verdict {
  int64_t seq = -1;
  std::string sample_id, worker, comment, score;
  bool accept = false;
};

// The verdicts of a body's `comments` (at least one), on samples of the dataset.
std::vector<Verdict> read_verdicts(const JsonIn& in, const std::string& dataset_id);

// An item as the member lists show it: its sample with the item's labels,
// state and review. `r`: a sample row joined with its item's columns.
json item_json(const http::Context& ctx, const store::Row& r);

// The handlers of team labeling tasks, their acceptances, and what they share.
class TeamTasksApi {
  using Response = http::Response;

 public:
  TeamTasksApi(store::Database& db, iam::Iam& iam, mail::Smtp smtp, std::string public_url)
      : db_(db), iam_(iam), smtp_(std::move(smtp)), public_url_(std::move(public_url)) {}

  // team_tasks.cc
  Response list(http::Context& ctx);          // a page of the dataset's tasks
  Response create(http::Context& ctx);        // a new task; with members, dealt and running
  Response get(http::Context& ctx);           // one task with its members' stats (a labeler: their own)
  Response update(http::Context& ctx);        // name, description, members (dealt again)
  Response start(http::Context& ctx);         // a created or rejected task, with its members
  Response remove(http::Context& ctx);        // a task with its members and items
  Response stats(http::Context& ctx);         // item counts by state (a labeler: their own)
  Response metrics(http::Context& ctx);       // item counts by state per labeler
  Response notify(http::Context& ctx);        // e-mail to members, a result per address
  Response worker_tasks(http::Context& ctx);  // the caller's tasks across the project
  // items.cc
  Response list_items(http::Context& ctx);  // a page of the items the caller may see
  Response get_item(http::Context& ctx);    // one sample's item the caller may see
  Response annotate(http::Context& ctx);    // labels for items, all or none
  Response review(http::Context& ctx);      // reviewers pass or reject labeled items
  // acceptance.cc
  Response start_acceptance(http::Context& ctx);  // samples the labeled items to check
  Response judge(http::Context& ctx);             // verdicts on sampled items
  Response report(http::Context& ctx);            // an acceptance's stats, per worker too
  Response end_acceptance(http::Context& ctx);    // applies (or cancels) it; or lists conflicts

  // The self check of member routes: the caller is a member of the path's task.
  bool is_member(const http::Context& ctx);
  // Route restrictions by the caller's role in the task: reviewers do not
  // annotate, labelers do not review (managers and the owner do both).
  void no_reviewer(const http::Context& ctx);
  void no_labeler(const http::Context& ctx);

 private:
  store::Row task_row(const http::Context& ctx);
  std::optional<Member> me(const http::Context& ctx);
  std::vector<Member> members_of(const http::Context& ctx, const JsonIn& cfg);
  void add_samples(const store::Row& t, int64_t labelers, int64_t base);
  void deal(const store::Row& t, const std::vector<Member>& ms);
  void sync_new(const store::Row& t);
  json stats_of(const std::string& task, const std::string* worker);
  json task_json(const store::Row& t, bool detail);
  Response reconfigure(http::Context& ctx, bool starting);
  std::string item_scope(const http::Context& ctx, const store::Row& t, store::Params& p);
  json check_stats(const std::string& task, const std::string& check);

  store::Database& db_;
  iam::Iam& iam_;
  const mail::Smtp smtp_;
  const std::string public_url_;
};

}  // namespace atelier::labeling
