// How the files of a job folder (runtime/job_files.h) read as the job's
// state, for one worker and for several.
#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/job_files.h"
#include "test_util.h"

using atelier::json;
using namespace atelier::runtime;

namespace {

struct Folder {
  atelier::testing::TempDir tmp;
  std::string dir = tmp.str();
  explicit Folder(int workers) { write_json_file(dir + "/spec.json", {{"nodes", workers}}); }
  void exit(int rank, int code, bool killed, const std::string& job = "") {
    write_json_file(state_file(dir, "exit", rank), {{"exit_code", code}, {"killed", killed}, {"started_at", 100 + rank},
                                                    {"ended_at", 200 + rank}, {"reason", "r" + std::to_string(rank)},
                                                    {"slurm_job", job}});
  }
  // A live supervisor (this test process) whose job has started.
  void running(int rank, const std::string& job = "") {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    write_json_file(state_file(dir, "supervisor", rank),
                    {{"pid", ::getpid()}, {"start", process_start(::getpid())}, {"host", host}, {"slurm_job", job}});
    write_json_file(state_file(dir, "running", rank), {{"pid", ::getpid()}, {"started_at", 50 + rank}, {"slurm_job", job}});
  }
};

}  // namespace

TEST(JobState, OneWorkerEnded) {
  Folder f(1);
  f.exit(0, 0, false);
  auto s = state_from_files(f.dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase, Phase::kExited);
  EXPECT_EQ(s->exit_code, 0);
  EXPECT_FALSE(s->killed);
  EXPECT_EQ(s->started_ms, 100);
  EXPECT_EQ(s->ended_ms, 200);
}

TEST(JobState, NoRecordAndNoSupervisorIsUnknown) {
  Folder f(1);
  EXPECT_FALSE(state_from_files(f.dir));
}

TEST(JobState, AFailedWorkerFailsTheJobEvenWhenTheOthersWereKilled) {
  Folder f(3);
  f.exit(0, 137, true);  // stopped by srun because worker 1 failed
  f.exit(1, 3, false);
  f.exit(2, 0, false);
  auto s = state_from_files(f.dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase, Phase::kExited);
  EXPECT_EQ(s->exit_code, 3);
  EXPECT_FALSE(s->killed);
  EXPECT_EQ(s->reason, "r1");
  EXPECT_EQ(s->started_ms, 100);
  EXPECT_EQ(s->ended_ms, 202);
}

TEST(JobState, AllWorkersKilledIsKilled) {
  Folder f(2);
  f.exit(0, 143, true);
  f.exit(1, 137, true);
  auto s = state_from_files(f.dir);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->killed);
  EXPECT_EQ(s->exit_code, 143);
}

TEST(JobState, RunningWhileAWorkerRuns) {
  Folder f(2);
  f.exit(0, 0, false);
  f.running(1);
  auto s = state_from_files(f.dir);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase, Phase::kRunning);
  EXPECT_EQ(s->started_ms, 51);
}

TEST(JobState, FilesOfAnotherSlurmJobDoNotCount) {
  Folder f(1);
  f.exit(0, 0, true, "41");  // an earlier submission, cancelled
  EXPECT_FALSE(state_from_files(f.dir, "42"));
  f.running(0, "42");
  auto s = state_from_files(f.dir, "42");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase, Phase::kRunning);  // job 41's exit.json is not job 42's end
  f.exit(0, 0, false, "42");
  EXPECT_EQ(state_from_files(f.dir, "42")->phase, Phase::kExited);
}
