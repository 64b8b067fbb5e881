#!/usr/bin/python3
"""Data management at scale, against a real `atelier serve`.

  1. Batch add N path-referenced samples (each with one of 10 labels) through
     the API in batches of 1000 over --uploaders connections (default 2);
     baseline: the same rows inserted straight into SQLite by
     build/atelier_data_baseline in the same run.
  2. Sample list with a label filter, page 1 and at offset 10,000: p50/p99.
  3. Dataset stats: p50/p99.
  4. Batch annotation, 1000 samples per request: samples/s.
  5. Server RSS (peak resident set, VmHWM) over the whole run.

Targets (N = 1,000,000): add >= 50,000 samples/s; list p99 <= 20 ms; stats
p99 <= 5 ms; annotation >= 20,000 samples/s; RSS < 300 MB.

  bench/data_bench.py               full size (1,000,000 samples)
  bench/data_bench.py --smoke       20,000 samples (run by the test suite)
"""
import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))
import requests  # noqa: E402
from conftest import ADMIN_PASSWORD, ROOT, Server, token_for  # noqa: E402

LABELS = [f"label{i}" for i in range(10)]


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def timed_gets(session, url, headers, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = session.get(url, headers=headers)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text
    return times


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--uploaders", type=int, default=2, help="concurrent connections for the batch add")
    a = ap.parse_args()
    n = 20_000 if a.smoke else a.samples
    batch = 1000
    srv = Server()
    try:
        tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        pid = body["project"]["id"]
        h = {"X-Auth-Token": tok, "Content-Type": "application/json"}
        s = requests.Session()
        base = f"{srv.base}/v2/{pid}"
        r = s.post(base + "/datasets", headers=h, data=json.dumps({
            "dataset_name": "bench", "dataset_type": 0, "work_path": "/bench/work/",
            "labels": [{"name": l} for l in LABELS]}))
        assert r.status_code == 201, r.text
        ds = r.json()["dataset_id"]
        samples_url = f"{base}/datasets/{ds}/data-annotations/samples"

        # Bodies are encoded before the clock starts: the client is not what is measured.
        bodies = []
        for start in range(0, n, batch):
            bodies.append(json.dumps({"samples": [
                {"data_source": {"data_path": f"/bench/img/{i:07d}.jpg"},
                 "labels": [{"name": LABELS[i % 10], "type": 0}]} for i in range(start, min(n, start + batch))]}))
        # Two uploaders, as a bulk loader would run: the server parses and
        # checks one batch while it writes the other.
        def upload(part):
            sess = requests.Session()
            for body in part:
                r = sess.post(samples_url, headers=h, data=body)
                assert r.status_code == 200, r.text[:300]
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=a.uploaders) as pool:
            list(pool.map(upload, [bodies[i::a.uploaders] for i in range(a.uploaders)]))
        add_secs = time.perf_counter() - t
        del bodies
        add_rate = n / add_secs
        baseline = float(subprocess.run([os.path.join(ROOT, "build", "atelier_data_baseline"), str(n)],
                                        capture_output=True, text=True, check=True).stdout)

        reps = 50 if a.smoke else 200
        list1 = timed_gets(s, samples_url + "?label_name=label3&limit=100", h, reps)
        deep_offset = 10_000 // 100 if n >= 110_000 else max(0, (n // 10) // 100 - 1)
        listdeep = timed_gets(s, samples_url + f"?label_name=label3&limit=100&offset={deep_offset}", h, reps)
        stats = timed_gets(s, f"{base}/datasets/{ds}/data-annotations/stats", h, reps)
        st = s.get(f"{base}/datasets/{ds}/data-annotations/stats", headers=h).json()
        assert st["sample_stats"]["total"] == n, st["sample_stats"]

        # Annotation: relabel 1000 samples per request (ids from listing pages).
        ids = []
        marker = None
        want = min(n, 20_000 if not a.smoke else 5_000)
        while len(ids) < want:
            url = samples_url + "?limit=100" + (f"&marker={marker}" if marker else "")
            page = s.get(url, headers=h).json()
            ids += [x["sample_id"] for x in page["samples"]]
            marker = page.get("next_marker")
            if not marker:
                break
        ann_bodies = [json.dumps({"samples": [{"sample_id": sid, "labels": [{"name": LABELS[(k + 1) % 10], "type": 0}]}
                                              for k, sid in enumerate(ids[i:i + batch])]}) for i in range(0, len(ids), batch)]
        t = time.perf_counter()
        for b in ann_bodies:
            r = s.put(samples_url, headers=h, data=b)
            assert r.status_code == 200, r.text[:300]
        ann_rate = len(ids) / (time.perf_counter() - t)
        rss = peak_rss_mb(srv.proc.pid)
    finally:
        srv.cleanup()

    print(f"data_bench: {n} samples, 10 labels, batches of {batch}, {a.uploaders} uploaders")
    print(f"batch add          {add_rate:10.0f} samples/s   raw SQLite baseline {baseline:.0f} rows/s   ratio {add_rate / baseline:.2f}")
    print(f"list label page 1  p50 {pct(list1, 50):6.2f} ms   p99 {pct(list1, 99):6.2f} ms")
    print(f"list label offset  p50 {pct(listdeep, 50):6.2f} ms   p99 {pct(listdeep, 99):6.2f} ms   (skip {deep_offset * 100})")
    print(f"stats              p50 {pct(stats, 50):6.2f} ms   p99 {pct(stats, 99):6.2f} ms")
    print(f"batch annotation   {ann_rate:10.0f} samples/s")
    print(f"server peak RSS    {rss:10.1f} MB")
    met = add_rate >= 50_000 and pct(list1, 99) <= 20 and pct(listdeep, 99) <= 20 and pct(stats, 99) <= 5 \
        and ann_rate >= 20_000 and rss < 300
    print("targets (add >= 50k/s, list p99 <= 20 ms, stats p99 <= 5 ms, annotate >= 20k/s, RSS < 300 MB):",
          "met" if met else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
