#!/usr/bin/python3
"""Team labeling at scale, against a real `atelier serve`.

  1. A dataset of N path-referenced samples (batch add, not measured) and a
     team of W labelers.
  2. Creating the team task: assigning the N samples among the W labelers,
     next to raw SQLite inserting N rows (build/atelier_data_baseline) in
     the same run.
  3. One labeler, signed in as themselves, fetching the pages of their share
     (100 a page) one after the other: p50/p99.
Targets (N = 1,000,000, W = 100): assignment <= 10 s; next-page p99 <= 10 ms.

  bench/labeling_bench.py            full size
  bench/labeling_bench.py --smoke    20,000 samples, 10 labelers (run by the test suite)
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))
import requests  # noqa: E402
from conftest import ADMIN_PASSWORD, Server, token_for  # noqa: E402


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    n, w = (20_000, 10) if a.smoke else (1_000_000, 100)
    srv = Server()
    try:
        tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        pid = body["project"]["id"]
        h = {"X-Auth-Token": tok, "Content-Type": "application/json"}
        s = requests.Session()
        base = f"{srv.base}/v2/{pid}"
        r = s.post(base + "/datasets", headers=h, data=json.dumps({
            "dataset_name": "bench", "dataset_type": 0, "work_path": "/bench/work/", "labels": [{"name": "cat"}, {"name": "dog"}]}))
        assert r.status_code == 201, r.text
        ds = r.json()["dataset_id"]
        for start in range(0, n, 1000):
            r = s.post(f"{base}/datasets/{ds}/data-annotations/samples", headers=h, data=json.dumps({"samples": [
                {"data_source": {"data_path": f"/bench/img/{i:07d}.jpg"}} for i in range(start, min(n, start + 1000))]}))
            assert r.status_code == 200, r.text[:300]
        team = s.post(base + "/workforces", headers=h, data=json.dumps({"workforce_name": "bench"})).json()["workforce_id"]
        for start in range(0, w, 100):
            r = s.post(f"{base}/workforces/{team}/workers", headers=h, data=json.dumps(
                {"emails": [f"labeler{i:03d}@bench.test" for i in range(start, min(w, start + 100))], "role": 0}))
            assert r.status_code == 201, r.text

        t = time.perf_counter()
        r = s.post(f"{base}/datasets/{ds}/workforce-tasks", headers=h, data=json.dumps(
            {"task_name": "bench", "workforces_config": {"workforces": [{"workforce_id": team}]}}), timeout=600)
        assign = time.perf_counter() - t
        assert r.status_code == 200, r.text
        tid = r.json()["task_id"]
        baseline = float(subprocess.run([os.path.join(ROOT, "build", "atelier_data_baseline"), str(n)],
                                        capture_output=True, text=True, check=True).stdout)

        # One labeler signs in as themselves and reads their share page by page.
        worker = s.get(f"{base}/workforces/{team}/workers", headers=h, params={"limit": 1, "sort_by": "email", "order": "asc"}).json()["workers"][0]
        users = s.get(f"{srv.base}/v3/users", headers=h, params={"name": worker["user_name"]}).json()["users"]
        assert s.put(f"{srv.base}/v3.0/OS-USER/users/{users[0]['id']}", headers=h,
                     data=json.dumps({"user": {"password": "Bench-pass-1"}})).status_code == 200
        wtok, _ = token_for(srv.base, worker["user_name"], "Bench-pass-1", "admin", project="local")
        wh = {"X-Auth-Token": wtok}
        ws = requests.Session()
        times, seen = [], 0
        url = f"{base}/datasets/{ds}/workforce-tasks/{tid}/data-annotations/samples"
        for page in range(n // w // 100):
            t = time.perf_counter()
            r = ws.get(url, headers=wh, params={"offset": page, "limit": 100})
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.text
            seen += len(r.json()["samples"])
        assert seen == n // w, seen
    finally:
        srv.cleanup()

    print(f"labeling_bench: {n} samples among {w} labelers")
    print(f"assignment          {assign:7.2f} s   ({n / assign:.0f} samples/s; raw SQLite inserting {n} rows: "
          f"{n / baseline:.2f} s, ratio {n / baseline / assign:.2f})")
    print(f"labeler next page   p50 {pct(times, 50):6.2f} ms   p99 {pct(times, 99):6.2f} ms   ({len(times)} pages of 100)")
    met = assign <= 10 and pct(times, 99) <= 10
    print("targets (assignment <= 10 s, next page p99 <= 10 ms):", "met" if met else "NOT met")


if __name__ == "__main__":
    main()
