"""Training jobs on the Slurm runner, against a real Slurm cluster
started here (munge + slurmctld + two slurmd on this host, cgroup mode, by
scripts/slurm.sh) and a server with ATELIER_RUNNER=slurm. The jobs run the
same supervisor as on the local runner, inside Slurm allocations; a job of
two workers runs one on each node."""
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import ROOT, Server, wait_until
from test_training_jobs import (COMPLETED, EXIT0, FAILED, KILLED, RUNNING, WAITING, ReusedServer, TApi,
                                assert_v1_error, pgrep, shutdown)

SLURM = os.path.join(ROOT, "scripts", "slurm.sh")
NODES = 2


def slurm_env(conf):
    env = dict(os.environ)
    env["SLURM_CONF"] = conf
    return env


@pytest.fixture(scope="module")
def cluster():
    d = tempfile.mkdtemp(prefix="atelier-slurm-")
    conf = os.path.join(d, "slurm.conf")
    try:
        out = subprocess.run([SLURM, "start", d, str(NODES)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        yield conf
    finally:
        env = slurm_env(conf)
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True, timeout=20)
        deadline = time.time() + 20
        while time.time() < deadline:
            q = subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, timeout=20)
            if q.returncode != 0 or not q.stdout.strip():
                break
            time.sleep(0.2)
        subprocess.run([SLURM, "stop", d], capture_output=True, timeout=60)
        subprocess.run(["rm", "-rf", d])


def slurm_server(conf, **env):
    e = {"ATELIER_RUNNER": "slurm", "SLURM_CONF": conf, "ATELIER_TRAIN_NETWORK": "true"}
    e.update(env)
    s = Server(extra_env=e)
    s.api = TApi(s)
    return s


@pytest.fixture(scope="module")
def srv(cluster):
    s = slurm_server(cluster)
    yield s
    shutdown(s, s.api)


def job_name(srv, vid):
    """The Slurm job name the server gave the version (in its job folder)."""
    with open(os.path.join(srv.data_dir, "training", str(vid), "spec.json")) as f:
        return json.load(f)["name"]


def slurm_job(srv, vid, fmt="%i %T"):
    """squeue's fields of the version's Slurm job, found by its name."""
    q = subprocess.run(["squeue", "-h", "-t", "all", "-n", job_name(srv, vid), "-o", fmt], env=slurm_env(srv.env["SLURM_CONF"]),
                       capture_output=True, text=True, timeout=20)
    assert q.returncode == 0, q.stderr
    return q.stdout.split()


def wait_slurm_state(srv, vid, state):
    """Slurm's final state can lag behind ours (COMPLETING first)."""
    wait_until(lambda: slurm_job(srv, vid)[1:] == [state], timeout=30, what=f"Slurm state {state}")


TORCH = """\
import argparse, os, torch
p = argparse.ArgumentParser()
p.add_argument('--data_url'); p.add_argument('--train_url'); p.add_argument('--steps', type=int)
a = p.parse_args()
rows = [list(map(float, l.split(','))) for l in open(os.path.join(a.data_url, 'train.csv'))]
x = torch.tensor([r[:2] for r in rows]); y = torch.tensor([[r[2]] for r in rows])
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for step in range(a.steps):
    opt.zero_grad(); loss = torch.nn.functional.mse_loss(model(x), y); loss.backward(); opt.step()
    print(f'step {step} loss {loss.item():.5f}')
torch.save(model.state_dict(), os.path.join(a.train_url, 'model.pt'))
print('slurm job', os.environ.get('MA_VERSION_ID'))
"""


def test_pytorch_job_runs_in_slurm(tapi, srv, cluster):
    cfg = tapi.config(TORCH, params=[("steps", 20)], engine_id=1001)
    data = cfg["data_url"] + "train.csv"
    srv.objects.put(data, "".join(f"{i / 10},{(i % 7) / 7},{(i * 3 % 10) / 10}\n" for i in range(40)))
    r = tapi.create_raw({"job_name": "slurm-torch-" + uuid.uuid4().hex[:6], "config": cfg})
    assert r.status_code == 200, r.text
    c = r.json()
    v = tapi.wait(c["job_id"], c["version_id"], timeout=120)
    log = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, log
    assert any(l.startswith("step 19 loss ") for l in log), log
    assert log[-1] == EXIT0
    # aom-log both ways: the newest page, then the page before it
    last = tapi.log_page(c["job_id"], c["version_id"], lines=5)
    assert last["content"].split("\n") == log[-5:], last
    before = tapi.log_page(c["job_id"], c["version_id"], lines=5, base_line=last["start_line"], order="asc")
    assert before["content"].split("\n") == log[-10:-5], before
    assert len(srv.objects.get(cfg["train_url"] + "model.pt")) > 0
    wait_slurm_state(srv, c["version_id"], "COMPLETED")
    assert v["duration"] > 0 and v["start_time"] >= v["create_time"]


def test_failing_script_fails_with_its_exit_code(tapi):
    c = tapi.create("print('about to fail')\nimport sys\nsys.exit(3)\n")
    v = tapi.wait(c["job_id"], c["version_id"], timeout=60)
    assert v["status"] == FAILED
    log = tapi.log(c["job_id"], c["version_id"])
    assert "about to fail" in log and log[-1] == "[atelier] exit code 3", log


SLEEPER = """\
import subprocess, sys, time
marker = [a for a in sys.argv if a.startswith('--marker=')][0].split('=', 1)[1]
subprocess.Popen(['/bin/sh', '-c', 'sleep 300 # ' + marker])
print('sleeping', flush=True)
time.sleep(300)
"""


def test_stop_cancels_the_slurm_job_and_its_processes(tapi, srv):
    marker = uuid.uuid4().hex
    c = tapi.create(SLEEPER, params=[("marker", marker)])
    tapi.wait(c["job_id"], c["version_id"], until={RUNNING}, timeout=60)
    wait_until(lambda: pgrep(marker), what="the job's child process")
    r = tapi.stop(c["job_id"], c["version_id"])
    assert r.status_code == 200, r.text
    v = tapi.wait(c["job_id"], c["version_id"], timeout=30)
    assert v["status"] == KILLED
    wait_until(lambda: not pgrep(marker), timeout=15, what="no process left")
    wait_slurm_state(srv, c["version_id"], "CANCELLED")


def test_cancel_from_slurm_itself_is_killed(tapi, srv, cluster):
    marker = uuid.uuid4().hex
    c = tapi.create(SLEEPER, params=[("marker", marker)])
    tapi.wait(c["job_id"], c["version_id"], until={RUNNING}, timeout=60)
    job_id = slurm_job(srv, c["version_id"])[0]
    subprocess.run(["scancel", job_id], env=slurm_env(cluster), check=True, timeout=20)
    v = tapi.wait(c["job_id"], c["version_id"], timeout=30)
    assert v["status"] == KILLED, v
    wait_until(lambda: not pgrep(marker), timeout=15, what="no process left")


def test_jobs_wait_in_slurms_queue_and_start_in_order(tapi, srv):
    """Each job takes every CPU of a node: one runs on each node, the last
    waits (PENDING in Slurm, WAITING here) until one of them has ended."""
    mem_mb = int(open("/proc/meminfo").read().split()[1]) // 1024
    if os.cpu_count() != 2 or mem_mb * 9 // 10 // NODES < 8192:
        pytest.skip("the queue test needs nodes of 2 cores that the 2-core spec (8 GB) fills")
    made = [tapi.create("import time\ntime.sleep(6)\n", spec_id=2) for _ in range(NODES + 1)]
    def one_waits():
        statuses = [tapi.version(c["job_id"], c["version_id"])["status"] for c in made]
        return statuses[:NODES] == [RUNNING] * NODES and statuses[NODES] == WAITING
    wait_until(one_waits, 20, interval=0.1, what=f"{NODES} jobs running and one waiting")
    vs = [tapi.wait(c["job_id"], c["version_id"], timeout=90) for c in made]
    assert all(v["status"] == COMPLETED for v in vs), vs
    first_end = min(v["start_time"] + v["duration"] for v in vs[:NODES])
    assert vs[NODES]["start_time"] >= first_end - 50, vs


def test_resource_specs_show_the_cluster(tapi):
    r = tapi.get("/job/resource-specs")
    assert r.status_code == 200, r.text
    specs = {s["spec_id"]: s for s in r.json()["specs"]}
    assert specs[1]["max_num"] == NODES
    # free once what earlier tests ran has left the nodes
    wait_until(lambda: tapi.get("/job/resource-specs").json()["specs"][0]["no_resource"] is False, timeout=30,
             what="a free node")


def test_more_nodes_than_the_cluster_are_refused(tapi):
    before = tapi.job_count()
    r = tapi.create_raw({"job_name": "too-many-nodes", "config": tapi.config(worker_server_num=NODES + 1)})
    assert_v1_error(r, 400, field="config.worker_server_num")
    assert "slurm" in r.json()["error_message"]
    assert tapi.job_count() == before


DISTRIBUTED = """\
import argparse, os, sys, torch, torch.distributed as dist
p = argparse.ArgumentParser(); p.add_argument('--data_url'); p.add_argument('--train_url'); p.add_argument('--fail_rank', type=int)
a = p.parse_args()
rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
print('worker', os.environ['DLS_TASK_INDEX'], 'of', os.environ['DLS_TASK_NUMBER'], flush=True)
if rank == a.fail_rank:
    sys.exit(3)
dist.init_process_group('gloo', init_method='tcp://%s:%s' % (os.environ['MASTER_ADDR'], os.environ['MASTER_PORT']),
                        rank=rank, world_size=world)
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
print('sum', t.item(), flush=True)
open(os.path.join(a.train_url, 'rank-%d.txt' % rank), 'w').write(str(t.item()))
dist.destroy_process_group()
"""


def test_two_workers_run_on_two_nodes_and_talk(tapi, srv):
    """worker_server_num 2: one worker on each node, each with its rank and
    its own log; they reach each other (gloo all_reduce) and both write to
    train_url."""
    c = tapi.create(DISTRIBUTED, params=[("fail_rank", -1)], engine_id=1001, worker_server_num=2)
    v = tapi.wait(c["job_id"], c["version_id"], timeout=120)
    names = tapi.get(f"/training-jobs/{c['job_id']}/versions/{c['version_id']}/log/file-names").json()["log_file_list"]
    assert len(names) == 2 and names[0].endswith(".0") and names[1].endswith(".1"), names
    logs = []
    for n in names:
        p = tapi.log_page(c["job_id"], c["version_id"], log_file=n, lines=500)
        logs.append(p["content"].split("\n"))
    assert v["status"] == COMPLETED, logs
    for r, log in enumerate(logs):
        assert f"worker {r} of 2" in log and "sum 3.0" in log and log[-1] == EXIT0, log
    assert srv.objects.list(c["config"]["train_url"]) == ["rank-0.txt", "rank-1.txt"]
    assert slurm_job(srv, c["version_id"], "%D") == ["2"]


def test_workers_need_the_network(cluster):
    """Without train_network the workers of a job could not reach each other: refused."""
    s = slurm_server(cluster, ATELIER_TRAIN_NETWORK="false")
    try:
        r = s.api.create_raw({"job_name": "no-net", "config": s.api.config(worker_server_num=2)})
        assert_v1_error(r, 400, field="config.worker_server_num")
        assert "train_network" in r.json()["error_message"], r.text
    finally:
        shutdown(s, s.api)


def test_one_failing_worker_fails_the_job(tapi):
    c = tapi.create(DISTRIBUTED, params=[("fail_rank", 1)], engine_id=1001, worker_server_num=2)
    v = tapi.wait(c["job_id"], c["version_id"], timeout=120)
    assert v["status"] == FAILED, v
    name1 = tapi.log_name_of(c["job_id"], c["version_id"], 1)
    log1 = tapi.log_page(c["job_id"], c["version_id"], log_file=name1, lines=500)["content"].split("\n")
    assert log1[-1] == "[atelier] exit code 3", log1


def test_server_restart_reattaches_by_slurm_job(cluster):
    s = slurm_server(cluster)
    try:
        a = s.api
        c = a.create("import os, time\ntime.sleep(4)\nopen('/home/work/output/done.txt', 'w').write('ok')\nprint('done')\n")
        a.wait(c["job_id"], c["version_id"], until={RUNNING}, timeout=60)
        s.stop(signal.SIGKILL)
        s2 = ReusedServer(s.data_dir, s.port, extra_env={"ATELIER_RUNNER": "slurm", "SLURM_CONF": cluster})
        s2.api = TApi(s2)
        s = s2
        v = s.api.wait(c["job_id"], c["version_id"], timeout=60)
        assert v["status"] == COMPLETED, s.api.log(c["job_id"], c["version_id"])
        assert s.objects.text(c["config"]["train_url"] + "done.txt") == "ok"
    finally:
        shutdown(s, getattr(s, "api", None))


def test_notebook_instance_on_a_pool(cluster):
    """A notebook instance placed in a dedicated pool runs as a Slurm job of
    its partition, and is reached through the same proxy."""
    from conftest import ADMIN_PASSWORD, token_for
    from test_notebooks import NbApi, execute, shutdown as nb_shutdown
    s = Server(extra_env={"SLURM_CONF": cluster,
                          "ATELIER_NOTEBOOK_POOLS": json.dumps([{"id": "pool-a", "name": "cluster A", "partition": "debug"}])})
    tok, body = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    nb = NbApi(s, {"X-Auth-Token": tok}, body["project"]["id"])
    try:
        r = nb.req("POST", json={"name": "nb-pool-bad", "profile_id": "Python3", "flavor": "modelarts.vm.cpu.2u",
                                 "spec": {"storage": {"type": "evs"}}, "pool": {"id": "pool-z"}})
        assert r.status_code == 400 and "pool-a" in r.json()["error_message"], r.text
        g = nb.create("nb-pool", pool={"id": "pool-a"})
        assert g["pool"] == {"id": "pool-a", "name": "cluster A", "type": "USER_DEFINED", "owner": {"project_id": nb.pid}}
        g = nb.wait(g["id"], "RUNNING", timeout=90)
        url = g["spec"]["annotations"]["url"]
        _, out = execute(url, tok, "6 * 7")
        assert out["result"] == "42", out
        with open(os.path.join(s.data_dir, "notebooks", g["id"], "spec.json")) as f:
            name = json.load(f)["name"]
        q = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i %T %P"], env=slurm_env(cluster), capture_output=True, text=True)
        job, state, partition = q.stdout.split()
        assert (state, partition) == ("RUNNING", "debug"), q.stdout
        assert [i["id"] for i in nb.req("GET", params={"de_type": "Notebook", "pool_id": "pool-a"}).json()["instances"]] == [g["id"]]
        assert nb.req("GET", params={"de_type": "Notebook", "pool_id": "pool-b"}).json()["total_count"] == 0
        nb.stop(g["id"])
        def job_over():
            q = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=slurm_env(cluster), capture_output=True, text=True)
            return not q.stdout.strip() or q.stdout.split()[0] in ("COMPLETED", "CANCELLED", "FAILED")
        wait_until(job_over, 20, interval=0.2, what="the instance's Slurm job to end")
    finally:
        nb_shutdown(s, [nb])
