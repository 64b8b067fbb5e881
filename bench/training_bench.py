#!/usr/bin/python3
"""Training jobs on the local runner, against a real `atelier serve`.

  1. Create -> RUNNING: POST /training-jobs until the version shows status 8,
     for a plain-Python job (the engine's own start-up is not in it: RUNNING
     is set once the supervisor has started the sandboxed process). The
     sandbox's own cost is shown beside it: bubblewrap running `true` with the
     same mounts, measured in the same run.
  2. aom-log: pages of 50 lines at random places in a big log (1 GB at full
     size) and in a 1 MB log, both written by real jobs through the
     supervisor; median latency of each and their ratio (target: <= 5 ms,
     ratio ~ 1).
  3. 200 jobs submitted at once with capacity for one: all accepted, started
     in submission order, server RSS before and after the submissions.
  4. The Slurm runner on a one-node cluster started here (scripts/slurm.sh):
     create -> RUNNING through the API, next to Slurm's own sbatch -> RUNNING
     for a trivial script, measured in the same run.

  bench/training_bench.py           full size
  bench/training_bench.py --smoke   tiny run used by the test suite
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))
import requests  # noqa: E402
from conftest import ADMIN_PASSWORD, Server, token_for  # noqa: E402

SLEEP = "import time\ntime.sleep(0.2)\n"
BIG = """import argparse, sys
p = argparse.ArgumentParser(); p.add_argument('--data_url'); p.add_argument('--train_url'); p.add_argument('--mb', type=int)
a = p.parse_args()
line = b'%08d the quick brown fox jumps over the lazy dog, loss=0.123456 accuracy=0.987654 step done\\n'
block = b''.join(line % i for i in range(10000))
out = sys.stdout.buffer
for _ in range(max(1, a.mb * (1 << 20) // len(block))):
    out.write(block)
out.flush()
"""


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    def __init__(self, srv):
        tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        self.h = {"X-Auth-Token": tok}
        self.b = f"{srv.base}/v1/{body['project']['id']}"
        self.s = requests.Session()
        self.n = 0

    def create(self, boot, params=(), spec=3):
        self.n += 1
        r = self.s.post(self.b + "/training-jobs", headers=self.h, json={"job_name": f"bench{self.n}", "config": {
            "worker_server_num": 1, "app_url": "/bench/code/", "boot_file_url": f"/bench/code/{boot}", "spec_id": spec,
            "data_url": "/bench/data/", "parameter": [{"label": k, "value": str(v)} for k, v in params]}})
        assert r.status_code == 200, r.text
        j = r.json()
        return j, f"{self.b}/training-jobs/{j['job_id']}/versions/{j['version_id']}"

    def wait(self, url, statuses, timeout=600, every=0.002):
        t0 = time.time()
        while time.time() - t0 < timeout:
            v = self.s.get(url, headers=self.h).json()
            if v["status"] in statuses:
                return v
            time.sleep(every)
        raise TimeoutError(url)


def bwrap_true():
    t0 = time.perf_counter()
    subprocess.run(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                    "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
                    "--tmpfs", "/tmp", "true"], check=True)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    starts, big_mb, jobs = (5, 8, 10) if args.smoke else (20, 1024, 200)
    srv = Server(extra_env={"ATELIER_TRAIN_CORES": "1"})
    try:
        c = Client(srv)
        srv.objects.put("/bench/code/sleep.py", SLEEP.encode())
        srv.objects.put("/bench/code/big.py", BIG.encode())
        srv.objects.put("/bench/data/x", b"x")
        print(f"training_bench: {starts} starts, {big_mb} MB log, {jobs} queued jobs")

        lat = []
        for _ in range(starts):
            t0 = time.perf_counter()
            _, url = c.create("sleep.py")
            c.wait(url, (8, 10))
            lat.append(time.perf_counter() - t0)
            c.wait(url, (10, 11), every=0.05)
        sandbox = statistics.median(bwrap_true() for _ in range(starts))
        print(f"create -> RUNNING        median {statistics.median(lat) * 1000:7.1f} ms  max {max(lat) * 1000:7.1f} ms"
              f"   (bubblewrap alone {sandbox * 1000:.1f} ms; target <= 200 ms)")

        pages = {}
        for mb in (1, big_mb):
            _, url = c.create("big.py", [("mb", mb)])
            v = c.wait(url, (10, 11), every=0.1)
            assert v["status"] == 10, v
            name = c.s.get(url + "/log/file-names", headers=c.h).json()["log_file_list"][0]
            last = c.s.get(url + "/aom-log", headers=c.h, params={"log_file": name, "lines": 1}).json()
            total = int(last["end_line"])
            times = []
            for _ in range(200):
                base = random.randint(1, total)
                t0 = time.perf_counter()
                r = c.s.get(url + "/aom-log", headers=c.h,
                            params={"log_file": name, "lines": 50, "base_line": base, "order": random.choice(("asc", "desc"))})
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200 and r.json()["is_success"], r.text
            pages[mb] = statistics.median(times)
            print(f"aom-log 50 lines, {mb:5d} MB log ({total} lines)  median {pages[mb] * 1000:6.2f} ms"
                  f"  p95 {sorted(times)[189] * 1000:6.2f} ms")
        print(f"aom-log ratio big/small {pages[big_mb] / pages[1]:.2f}   (target ~1, <= 5 ms)")

        rss0 = rss_kb(srv.proc.pid)
        t0 = time.perf_counter()
        made = [c.create("sleep.py", spec=1) for _ in range(jobs)]
        submit = time.perf_counter() - t0
        rss1 = rss_kb(srv.proc.pid)
        versions = [c.wait(url, (10, 11, 12, 14), timeout=jobs * 5, every=0.2) for _, url in made]
        ok = all(v["status"] == 10 for v in versions)
        order = all(versions[i]["start_time"] >= versions[i - 1]["start_time"] + versions[i - 1]["duration"]
                    for i in range(1, len(versions)))
        print(f"{jobs} jobs submitted in {submit:.2f} s ({jobs / submit:.0f}/s), all completed: {ok}, "
              f"one at a time in submission order: {order}, server RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MB")
        if not (ok and order):
            sys.exit(1)
    finally:
        srv.stop()
        subprocess.run(["rm", "-rf", srv.data_dir])
    slurm(starts)


def until(pred, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.002)


def squeue_state(env, job):
    q = subprocess.run(["squeue", "-h", "-t", "all", "-j", job, "-o", "%T"], env=env, capture_output=True, text=True)
    return q.stdout.strip()


def slurm(starts):
    d = tempfile.mkdtemp(prefix="atelier-bench-slurm-")
    conf = os.path.join(d, "slurm.conf")
    env = dict(os.environ, SLURM_CONF=conf)
    script = os.path.join(HERE, "..", "scripts", "slurm.sh")
    srv = None
    try:
        subprocess.run([script, "start", d], check=True, capture_output=True)
        # Slurm alone: until squeue says RUNNING, and until the script really runs (it touches a file).
        raw, raw_state = [], []
        for i in range(starts):
            mark = os.path.join(d, f"started{i}")
            t0 = time.perf_counter()
            job = subprocess.run(["sbatch", "--parsable", "--output=/dev/null", "--wrap", f"touch {mark}; sleep 0.3"],
                                 env=env, check=True, capture_output=True, text=True).stdout.strip().split(";")[0]
            until(lambda: squeue_state(env, job) in ("RUNNING", "COMPLETING", "COMPLETED"), what="squeue RUNNING")
            raw_state.append(time.perf_counter() - t0)
            until(lambda: os.path.exists(mark), what="the script running")
            raw.append(time.perf_counter() - t0)
            until(lambda: squeue_state(env, job) == "COMPLETED", what="the job completed")
        srv = Server(extra_env={"ATELIER_RUNNER": "slurm", "SLURM_CONF": conf})
        c = Client(srv)
        srv.objects.put("/bench/code/sleep.py", SLEEP.encode())
        srv.objects.put("/bench/data/x", b"x")
        lat = []
        for _ in range(starts):
            t0 = time.perf_counter()
            _, url = c.create("sleep.py")
            c.wait(url, (8, 10), timeout=60)
            lat.append(time.perf_counter() - t0)
            c.wait(url, (10, 11), every=0.05)
            # as for sbatch above: the next job comes once Slurm has finished this one (COMPLETING too)
            until(lambda: not subprocess.run(["squeue", "-h", "-t", "PD,R,CG", "-o", "%i"], env=env, capture_output=True,
                                             text=True).stdout.strip(), what="an idle cluster")
        print(f"slurm: create -> RUNNING median {statistics.median(lat) * 1000:7.1f} ms   "
              f"sbatch -> script running median {statistics.median(raw) * 1000:7.1f} ms   "
              f"ratio {statistics.median(lat) / statistics.median(raw):.2f}   "
              f"(sbatch -> squeue RUNNING {statistics.median(raw_state) * 1000:.1f} ms)")
    finally:
        if srv:
            srv.stop()
            subprocess.run(["rm", "-rf", srv.data_dir])
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        subprocess.run([script, "stop", d], capture_output=True)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
