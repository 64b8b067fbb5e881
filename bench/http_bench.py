#!/usr/bin/python3
"""HTTP throughput and latency of the foundation, measured with wrk against a
real `atelier serve`.

Three loads, back to back in one run (the machine is shared and noisy, so only
ratios within a run mean anything):
  health  GET /health                      no authentication
  token   GET /v3/groups/{id}   X-Auth-Token of a non-admin user whose custom
                                policy allows iam:groups:getGroup (token lookup,
                                policy evaluation, one metadata read)
  aksk    the same request signed with SDK-HMAC-SHA256 by that user's AK/SK

Prints req/s, p50 and p99 per load and the ratios to /health.
Target: authenticated >= 0.5x /health throughput and p99 < 10 ms (64 connections).

  bench/http_bench.py              full size: 64 connections, 3 interleaved rounds of 5 s per load (median)
  bench/http_bench.py --smoke      tiny run used by the test suite
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))
import requests  # noqa: E402
from conftest import (ADMIN_PASSWORD, Server, grant_domain, make_group, make_policy,  # noqa: E402
                      make_user, sign_request, token_for)


def wrk(url, headers, conns, secs, threads=2):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=secs + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": lat(50), "p99": lat(99), "errors": int(non2xx.group(1)) if non2xx else 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=5, help="per load and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="server I/O threads")
    a = ap.parse_args()
    conns, secs, rounds = (8, 1, 1) if a.smoke else (a.connections, a.seconds, a.rounds)
    # Log to a file (as production would) so the terminal is not the bottleneck.
    srv = Server(extra_env={"ATELIER_THREADS": str(a.threads)})
    try:
        tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        srv.project_id = body["project"]["id"]
        srv.domain_id = body["user"]["domain"]["id"]
        admin = {"X-Auth-Token": tok}
        gid = make_group(srv, admin)
        role = make_policy(srv, admin, [{"Effect": "Allow", "Action": ["iam:groups:getGroup"]}], type_="AX")
        grant_domain(srv, admin, gid, role)
        uid, name, pw = make_user(srv, admin, groups=[gid])
        utok, _ = token_for(srv.base, name, pw, "admin", project="local")
        cred = requests.post(srv.base + "/v3.0/OS-CREDENTIAL/credentials", headers=admin,
                             json={"credential": {"user_id": uid}}).json()["credential"]
        url = f"{srv.base}/v3/groups/{gid}"
        token_h = {"X-Auth-Token": utok}
        # A signature stays valid for the clock-skew window (15 min), so wrk can replay it.
        aksk_h = sign_request("GET", url, cred["access"], cred["secret"])
        aksk_h.pop("Host")
        for h in (token_h, aksk_h):
            assert requests.get(url, headers=h).status_code == 200, "bench request not authorized"
        # Warm up, then interleave the loads for `rounds` rounds and keep each
        # load's median round: the machine is shared, so a slow moment should
        # not land on one load only.
        wrk(srv.base + "/health", {}, conns, 1)
        loads = {"health": (srv.base + "/health", {}), "token": (url, token_h), "aksk": (url, aksk_h)}
        runs = {k: [] for k in loads}
        for _ in range(rounds):
            for k, (u, h) in loads.items():
                runs[k].append(wrk(u, h, conns, secs))
        res = {}
        for k, rs in runs.items():
            rs.sort(key=lambda r: r["rps"])
            med = dict(rs[len(rs) // 2])
            med["errors"] = sum(r["errors"] for r in rs)
            res[k] = med
    finally:
        srv.cleanup()
    base = res["health"]["rps"]
    print(f"http_bench: {conns} connections, {secs} s per load and round, median of {rounds} interleaved rounds, "
          f"server threads {a.threads}")
    print(f"{'load':8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'x health':>9}")
    for k, r in res.items():
        print(f"{k:8} {r['rps']:10.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:7d} {r['rps'] / base:9.2f}")
    ok = all(res[k]["rps"] >= 0.5 * base and res[k]["p99"] < 10 for k in ("token", "aksk"))
    print("target (auth >= 0.5x health, p99 < 10 ms):", "met" if ok else "NOT met")
    if any(r["errors"] for r in res.values()):
        print("http_bench: some requests failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
