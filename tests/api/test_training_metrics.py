"""The metrics helper training jobs write with (python/atelier_metrics.py)
and the server's reader of its files (`atelier metrics`, the reader the
visualization viewer uses): a job in the sandbox writes TensorBoard event
files and JSON lines; what the reader gets back is what the job wrote."""
import importlib.util
import json
import os
import subprocess

import pytest

from conftest import BIN, ROOT, Server
from test_training_jobs import COMPLETED, TApi, shutdown

HELPER = os.path.join(ROOT, "python", "atelier_metrics.py")


def load_helper():
    spec = importlib.util.spec_from_file_location("atelier_metrics_t", HELPER)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def read(*files):
    out = subprocess.run([BIN, "metrics", *files], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_checksums_agree_with_and_without_the_debian_module():
    m = load_helper()
    if m._crc32c is None:
        pytest.skip("python3-crc32c is not installed")
    data = bytes(range(256)) * 3
    fast = m._crc(data)
    m._crc32c = None
    assert m._crc(data) == fast
    assert m._crc(b"123456789") == 0xE3069283


def test_helper_files_read_back_exactly(tmp_path):
    m = load_helper()
    with m.SummaryWriter(str(tmp_path)) as w:
        for step in range(50):
            w.add_scalar("loss", 1.0 / (step + 1), step, walltime=1700000000 + step)
            if step % 10 == 0:
                w.add_scalar("accuracy", step / 100, step)
    (res,) = read(w.path)
    assert res["skipped"] == 0 and res["records"] == 1 + 50 + 5, res
    loss = [s for s in res["scalars"] if s["tag"] == "loss"]
    assert [s["step"] for s in loss] == list(range(50))
    assert all(abs(s["value"] - 1.0 / (s["step"] + 1)) < 1e-6 for s in loss)
    assert loss[3]["wall_time"] == 1700000003
    assert [s["step"] for s in res["scalars"] if s["tag"] == "accuracy"] == [0, 10, 20, 30, 40]


def test_corrupt_record_is_skipped_with_a_warning(tmp_path):
    m = load_helper()
    with m.SummaryWriter(str(tmp_path)) as w:
        for step in range(3):
            w.add_scalar("loss", step, step)
    data = bytearray(open(w.path, "rb").read())
    data[-10] ^= 0xFF  # inside the last Event
    open(w.path, "wb").write(bytes(data))
    (res,) = read(w.path)
    assert res["skipped"] == 1 and any("CRC" in x for x in res["warnings"]), res
    assert [s["step"] for s in res["scalars"]] == [0, 1]


JOB = """\
import argparse, json, os
from atelier_metrics import SummaryWriter
p = argparse.ArgumentParser(); p.add_argument('--data_url'); p.add_argument('--train_url')
a = p.parse_args()
with SummaryWriter(os.path.join(a.train_url, 'logs')) as w:
    for step in range(20):
        w.add_scalar('train/loss', 2.0 - step * 0.1, step)
with open(os.path.join(a.train_url, 'logs', 'metrics.jsonl'), 'w') as f:
    for step in range(5):
        f.write(json.dumps({'step': step, 'acc': step / 10}) + '\\n')
print('wrote', sorted(os.listdir(os.path.join(a.train_url, 'logs'))))
"""


def test_training_job_writes_metrics_with_the_helper(tmp_path):
    srv = Server(extra_env={"ATELIER_TRAIN_CORES": "2"})
    api = TApi(srv)
    try:
        c = api.create(JOB)
        v = api.wait(c["job_id"], c["version_id"], timeout=60)
        assert v["status"] == COMPLETED, api.log(c["job_id"], c["version_id"])
        logs = c["config"]["train_url"] + "logs/"
        events = [f for f in srv.objects.list(logs) if f.startswith("events.out.tfevents.")]
        assert len(events) == 1, srv.objects.list(logs)
        # the reader is given local files, as the viewer's are
        ev, jl = read(srv.objects.copy_to(logs + events[0], str(tmp_path / events[0])),
                      srv.objects.copy_to(logs + "metrics.jsonl", str(tmp_path / "metrics.jsonl")))
        assert [round(s["value"], 4) for s in ev["scalars"]] == [round(2.0 - i * 0.1, 4) for i in range(20)]
        assert {s["tag"] for s in ev["scalars"]} == {"train/loss"}
        assert [(s["tag"], s["step"], s["value"]) for s in jl["scalars"]] == [("acc", i, i / 10) for i in range(5)]
    finally:
        shutdown(srv, api)
