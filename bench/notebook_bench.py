#!/usr/bin/python3
"""Notebook instances, against a real `atelier serve`.

  1. Create -> ready: POST an instance, until its Jupyter answers through the
     proxy (sandbox, volume, Jupyter start); baseline: Jupyter Notebook alone
     started by hand on this machine (no sandbox, no volume), in the same run.
  2. Proxy latency: GET api/status through the server vs straight to the same
     Jupyter (with its token), keep-alive, p50/p99 and the ratio.
  3. Proxy throughput: a 256 MB file downloaded through the server vs straight.
  4. WebSocket round trip: execute_request -> execute_reply of `1` in a
     kernel, through the server vs straight.
Target: create -> ready <= 3 s. The proxy figures are shown as ratios.

  bench/notebook_bench.py            full size
  bench/notebook_bench.py --smoke    small run used by the test suite
"""
import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))
import requests  # noqa: E402
import websocket  # noqa: E402
from conftest import ADMIN_PASSWORD, Server, token_for  # noqa: E402
from test_notebooks import NbApi, shutdown  # noqa: E402


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_alone():
    """Seconds from starting Debian's Jupyter Notebook to its first 200 of api/status."""
    d = tempfile.mkdtemp(prefix="nb-bench-")
    port, tok = free_port(), uuid.uuid4().hex
    env = dict(os.environ, HOME=d, JUPYTER_RUNTIME_DIR=os.path.join(d, "rt"), JUPYTER_TOKEN=tok)
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/python3", "-m", "notebook", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                          "--port-retries=0", f"--NotebookApp.notebook_dir={d}", "--allow-root"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": "token " + tok},
                                timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            except requests.RequestException:
                pass
            time.sleep(0.01)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait()
        subprocess.run(["rm", "-rf", d])


def ws_round_trips(ws_url, headers, kid, n):
    ws = websocket.create_connection(ws_url + f"api/kernels/{kid}/channels", header=headers, timeout=30)
    times = []
    session = uuid.uuid4().hex
    try:
        for _ in range(n):
            msg_id = uuid.uuid4().hex
            t0 = time.perf_counter()
            ws.send(json.dumps({"header": {"msg_id": msg_id, "username": "b", "session": session, "msg_type": "execute_request",
                                           "version": "5.3", "date": ""}, "parent_header": {}, "metadata": {}, "channel": "shell",
                                "content": {"code": "1", "silent": False, "store_history": False, "user_expressions": {},
                                            "allow_stdin": False, "stop_on_error": True}}))
            while True:
                m = json.loads(ws.recv())
                if m.get("parent_header", {}).get("msg_id") == msg_id and m["msg_type"] == "execute_reply":
                    break
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        ws.close()
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    starts, gets, mb, trips = (2, 50, 8, 10) if args.smoke else (5, 1000, 256, 200)
    print(f"notebook_bench: {starts} starts, {gets} GETs, {mb} MB download, {trips} kernel round trips")

    alone = [jupyter_alone() for _ in range(starts)]
    srv = Server()
    tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    nb = NbApi(srv, {"X-Auth-Token": tok}, body["project"]["id"])
    h = {"X-Auth-Token": tok}
    try:
        ready, last = [], None
        for i in range(starts):
            t0 = time.perf_counter()
            g = nb.create(f"bench-{i}")
            g = nb.wait(g["id"], "RUNNING")
            url = g["spec"]["annotations"]["url"]
            while requests.get(url + "api/status", headers=h).status_code != 200:
                time.sleep(0.01)
            ready.append(time.perf_counter() - t0)
            if last:
                nb.stop(last["id"])
            last = g
        url = last["spec"]["annotations"]["url"]
        db = sqlite3.connect(os.path.join(srv.data_dir, "meta.db"))
        port, secret = db.execute("SELECT port, secret FROM notebooks WHERE id = ?", (last["id"],)).fetchone()
        db.close()
        direct = f"http://127.0.0.1:{port}" + url[len(srv.base):]
        dh = {"Authorization": "token " + secret}

        def timed(session, u, hh):
            out = []
            for _ in range(gets):
                t0 = time.perf_counter()
                assert session.get(u, headers=hh).status_code == 200
                out.append((time.perf_counter() - t0) * 1000)
            return out

        via, straight = timed(requests.Session(), url + "api/status", h), timed(requests.Session(), direct + "api/status", dh)

        # Straight into the instance's workspace (a JSON upload is capped by max_body_bytes).
        with open(os.path.join(srv.data_dir, "notebooks", last["id"], "work", "big.txt"), "wb") as f:
            f.write(os.urandom(1 << 20) * mb)

        def download(u, hh):
            t0 = time.perf_counter()
            n = sum(len(c) for c in requests.get(u, headers=hh, stream=True).iter_content(1 << 16))
            assert n == mb << 20, n
            return (mb / (time.perf_counter() - t0))

        rate_via = max(download(url + "files/big.txt", h) for _ in range(3))
        rate_direct = max(download(direct + "files/big.txt", dh) for _ in range(3))
        rss = int(open(f"/proc/{srv.proc.pid}/status").read().split("VmHWM:")[1].split()[0]) / 1024

        kid = requests.post(url + "api/kernels", headers=h, json={"name": "python3"}).json()["id"]
        ws_via = ws_round_trips(url.replace("http://", "ws://"), [f"X-Auth-Token: {tok}"], kid, trips)
        ws_direct = ws_round_trips(direct.replace("http://", "ws://"), [f"Authorization: token {secret}"], kid, trips)

        print(f"create -> ready        median {pct(ready, 50):6.2f} s   max {max(ready):6.2f} s   "
              f"(Jupyter alone median {pct(alone, 50):.2f} s; target <= 3 s)")
        print(f"GET api/status  proxy  p50 {pct(via, 50):6.2f} ms  p99 {pct(via, 99):6.2f} ms   "
              f"direct p50 {pct(straight, 50):6.2f} ms  p99 {pct(straight, 99):6.2f} ms   ratio p50 {pct(via, 50) / pct(straight, 50):.2f}")
        print(f"download {mb} MB       proxy {rate_via:7.1f} MB/s   direct {rate_direct:7.1f} MB/s   ratio {rate_via / rate_direct:.2f}"
              f"   server peak RSS {rss:.1f} MB")
        print(f"kernel round trip proxy p50 {pct(ws_via, 50):6.2f} ms  direct p50 {pct(ws_direct, 50):6.2f} ms   "
              f"ratio {pct(ws_via, 50) / pct(ws_direct, 50):.2f}")
        print("target (create -> ready <= 3 s):", "met" if pct(ready, 50) <= 3 else "NOT met")
    finally:
        shutdown(srv, [nb])


if __name__ == "__main__":
    main()
