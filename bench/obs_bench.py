#!/usr/bin/python3
"""The object endpoint (S3 protocol, SigV4) against a real `atelier serve`,
next to the file system the store sits on, measured in the same run. The
plain files go into the very folders of the objects they are compared with,
so that both get the same placement on the disk.

  1. One large object (1 GiB), PUT as a single streaming request
     (UNSIGNED-PAYLOAD; then again with the payload's SHA-256 signed) and
     GET, next to writing the same bytes to a plain file (write + fsync, as
     the store fsyncs a put) and reading it back. Reads are measured warm
     (right after the write, from the page cache: what the server itself
     costs) and cold (both files dropped from the page cache with
     POSIX_FADV_DONTNEED: what the disk allows). Three repetitions, each
     measuring every figure once; medians shown.
  2. 10,000 objects of 16 KiB over 16 keep-alive connections, PUT (payload
     signed) then GET, next to 16 threads creating (open, write, fsync,
     close) and reading as many 16 KiB plain files, in 4 rounds that
     alternate the two (this machine's fsync rate drifts several-fold
     within minutes).
  3. ListObjectsV2 pages of 1,000 keys in a prefix of 1,000,000 objects,
     placed as files straight into the bucket's folder (the local backend
     lists what is on its disk): every page through continuation tokens,
     then 200 pages at random start-after keys; p50/p99 page latency as the
     client sees it, and the server's CPU time a page. Once for files
     without an ETag attribute (placed by hand), once more after
     `user.atelier.etag` was set on every file (as a put leaves it). The
     first page after the folder was filled reads the whole folder into the
     store's listing cache: shown on its own.
  4. The server's resident set during the large PUT and GET: peak VmRSS
     (sampled every 10 ms) above VmRSS before, and the VmHWM growth.
The client is a SigV4 signer over http.client keep-alive connections (the
signing key derived once, a body's hash computed once before the clock).
Its CPU time is shown beside the server's for every phase: near one core,
the Python client is the limit (small GETs).

Targets: large PUT >= 0.5x plain-file write (with fsync); large GET >= 0.7x
plain-file read (warm); small PUT >= 0.3x plain-file creation and >= 3,000
objects/s; list page p99 <= 20 ms; server RSS growth < 100 MB during the
large PUT and GET. At smoke size the figures are too small to judge.

This machine's ext4 has no journal: there, creating a file skips over every
inode of its group freed in the last minutes, reading each one's inode
(recently_deleted() in the kernel), so for minutes after many files were
deleted -- the cleanup of a run like this one, another's tests -- a new
file costs up to a millisecond of kernel CPU, plain file and object alike.
Run the full size apart from such work, and compare ratios rather than
absolute rates across runs.

  bench/obs_bench.py                   full size (1 GiB, 10,000 small objects, 1,000,000 listed)
  bench/obs_bench.py --large-mib 256 --small 2000 --list-objects 100000
  bench/obs_bench.py --huge            the large object phase alone at 5 GiB (needs ~15 GB free)
  bench/obs_bench.py --smoke           16 MiB, 500, 20,000 (run by the test suite)
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import os
import random
import re
import resource
import socket
import stat
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "api"))
from apihelpers import make_key  # noqa: E402
from conftest import ADMIN_PASSWORD, Server, token_for  # noqa: E402

BUCKET = "bench"
BLOCK = 16 << 20  # the large object is one random block of this size, repeated
SMALL = 16 << 10
CONNECTIONS = 16
PAGE = 1000
EMPTY_MD5 = hashlib.md5(b"").hexdigest()


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


# ---- SigV4 (header form), written from AWS's description of it

def quote(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


class Signer:
    def __init__(self, ak, sk, region="local"):
        self.ak, self.sk, self.region = ak, sk, region
        self.keys = {}  # date -> signing key

    def key(self, date8):
        if date8 not in self.keys:
            k = hmac.new(("AWS4" + self.sk).encode(), date8.encode(), hashlib.sha256).digest()
            for part in (self.region, "s3", "aws4_request"):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            self.keys[date8] = k
        return self.keys[date8]

    def headers(self, method, host, path, query, payload_hash):
        """The headers that sign a request: `query` a list of (name, value)."""
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        h = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        names = sorted(h)
        canon_q = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(query))
        canon = "\n".join([method, quote(path, safe="-_.~/"), canon_q, "".join(f"{n}:{h[n]}\n" for n in names),
                           ";".join(names), payload_hash])
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        sts = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canon.encode()).hexdigest()}"
        sig = hmac.new(self.key(amz_date[:8]), sts.encode(), hashlib.sha256).hexdigest()
        h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.ak}/{scope}, SignedHeaders={';'.join(names)}, "
                              f"Signature={sig}")
        return h


class Client:
    """One keep-alive connection to the object endpoint."""

    def __init__(self, port, signer):
        self.host, self.signer = f"127.0.0.1:{port}", signer
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def start(self, method, path, query=(), payload_hash="UNSIGNED-PAYLOAD", length=0):
        url = quote(path, safe="-_.~/") + ("?" + urllib.parse.urlencode(list(query)) if query else "")
        self.conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
        for k, v in self.signer.headers(method, self.host, path, query, payload_hash).items():
            self.conn.putheader(k, v)
        if method in ("PUT", "POST"):
            self.conn.putheader("Content-Length", str(length))

    def request(self, method, path, query=(), body=b"", payload_hash=None):
        """Status, headers and body of one request whose body is in memory."""
        self.start(method, path, query, payload_hash or hashlib.sha256(body).hexdigest(), len(body))
        self.conn.endheaders(body if body else None)
        r = self.conn.getresponse()
        return r.status, r.headers, r.read()

    def put_stream(self, path, pieces, length, payload_hash="UNSIGNED-PAYLOAD"):
        """One PUT whose body is sent piece by piece; returns the ETag."""
        self.start("PUT", path, (), payload_hash, length)
        self.conn.endheaders()
        for p in pieces:
            self.conn.sock.sendall(p)
        r = self.conn.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body[:300])
        return r.headers["ETag"].strip('"')

    def get_into(self, path, check):
        """GETs an object, giving `check` each buffer of it as it is read; returns its size."""
        self.start("GET", path)
        self.conn.endheaders()
        r = self.conn.getresponse()
        if r.status != 200:
            raise AssertionError((r.status, r.read()[:300]))
        return read_through(r, int(r.headers["Content-Length"]), check)


def read_through(f, size, check):
    """Reads `size` bytes of `f` (readinto) in BLOCK buffers, handing each full buffer to `check`."""
    buf = bytearray(min(BLOCK, max(size, 1)))
    mv = memoryview(buf)
    got = 0
    while got < size:
        want = min(len(buf), size - got)
        have = 0
        while have < want:
            n = f.readinto(mv[have:want])
            if not n:
                raise AssertionError(f"short read at {got + have} of {size}")
            have += n
        check(got, mv[:want])
        got += want
    return got


def large_pieces(block, size):
    """The large object: `block` repeated up to `size` bytes, as memoryviews."""
    mv = memoryview(block)
    for off in range(0, size, len(block)):
        yield mv[:min(len(block), size - off)]


def checker(block):
    """Checks a buffer read at `offset` of the large object: its length and
    4 KiB at its start, middle and end (a whole comparison would cost the
    client as much CPU as the server spends)."""
    def check(offset, mv):
        assert offset % len(block) == 0, offset
        for o in {0, len(mv) // 2, max(0, len(mv) - 4096)}:
            assert bytes(mv[o:o + 4096]) == block[o:o + 4096], f"wrong bytes at {offset + o}"
    return check


# ---- what the processes use

def proc_cpu(pid):
    """CPU seconds of the process's threads, to the nanosecond (schedstat;
    /proc/<pid>/stat counts in ticks, too coarse for a short phase). The
    server's threads live as long as it does, so none is missed."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # gone meanwhile
    return total / 1e9


def own_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Phase:
    """Times a phase; samples the server's VmRSS meanwhile and notes the
    server's and this client's CPU time."""

    def __init__(self, pid):
        self.pid, self.stop = pid, False
        self.rss0 = self.peak = status_kb(pid, "VmRSS")
        self.hwm0 = status_kb(pid, "VmHWM")
        self.t = threading.Thread(target=self.sample, daemon=True)
        self.t.start()
        self.srv0, self.cli0, self.t0 = proc_cpu(pid), own_cpu(), time.perf_counter()

    def sample(self):
        while not self.stop:
            self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            time.sleep(0.01)

    def done(self):
        self.secs = time.perf_counter() - self.t0
        self.srv = proc_cpu(self.pid) - self.srv0
        self.cli = own_cpu() - self.cli0
        self.stop = True
        self.t.join()
        self.rss_growth = (self.peak - self.rss0) / 1024
        self.hwm_growth = (status_kb(self.pid, "VmHWM") - self.hwm0) / 1024
        return self

    def cpu(self):
        return cpu_use(self.srv, self.cli, self.secs)


def cpu_use(server_s, client_s, secs):
    """The cores the server and this client kept busy; a client near one
    core (Python: one at a time) is named as the limit."""
    note = "  <- the client is the limit" if client_s / secs >= 0.8 else ""
    return f"server {server_s / secs:.2f} cores, client {client_s / secs:.2f} cores{note}"


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# ---- 1. one large object

def large_phase(srv, client, size, reps, rows):
    block = os.urandom(min(BLOCK, size))
    md5, sha = hashlib.md5(), hashlib.sha256()
    for p in large_pieces(block, size):  # before the clock: a client that knows its file's hashes
        md5.update(p)
        sha.update(p)
    md5, sha = md5.hexdigest(), sha.hexdigest()
    folder = os.path.join(srv.data_dir, "obs", BUCKET, "large")  # the plain file's too: the same placement
    os.makedirs(folder)
    plain, stored = os.path.join(folder, "plain.bin"), os.path.join(folder, "object.bin")
    key = f"/{BUCKET}/large/object.bin"
    check = checker(block)

    def plain_write():
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        for p in large_pieces(block, size):
            os.write(fd, p)  # Linux writes a regular file's piece whole
        os.fsync(fd)
        os.close(fd)

    def plain_read():
        with open(plain, "rb", buffering=0) as f:
            assert read_through(f, size, check) == size

    def put(payload_hash):
        def run():
            assert client.put_stream(key, large_pieces(block, size), size, payload_hash) == md5
        return run

    def get():
        assert client.get_into(key, check) == size

    # Each repetition measures every figure once, the plain file's next to
    # the endpoint's, which goes first every other time; the medians are
    # shown (this machine's disk and CPU drift within minutes).
    steps = ((("write", plain_write), ("put", put("UNSIGNED-PAYLOAD"))), (("put_signed", put(sha)),),
             (("read", plain_read), ("get", get)), (("cold", None),), (("read_cold", plain_read), ("get_cold", get)))
    figures, phases = {}, []
    for rep in range(reps):
        for step in steps:
            for name, fn in (step if rep % 2 == 0 else step[::-1]):
                if fn is None:  # from here on, both files are read from the disk
                    os.sync()  # nothing written before competes with the reads
                    drop_cache(plain)
                    drop_cache(stored)
                    continue
                ph = Phase(srv.proc.pid)
                fn()
                phases.append(ph.done())
                figures.setdefault(name, []).append(ph)
    os.unlink(plain)
    mib = size / 2**20
    med = {k: sorted(v, key=lambda ph: ph.secs)[len(v) // 2] for k, v in figures.items()}
    rate = {k: mib / ph.secs for k, ph in med.items()}
    rows.append(f"large object, {mib:.0f} MiB, one request each way (median of {reps}; CPU of that run)")
    rows.append(f"  plain file write+fsync {rate['write']:7.0f} MiB/s   read warm {rate['read']:6.0f} MiB/s   "
                f"read cold {rate['read_cold']:6.0f} MiB/s")
    for k, label, base, what in (("put", "PUT unsigned payload", "write", "plain write"),
                                 ("put_signed", "PUT signed payload  ", "write", "plain write"),
                                 ("get", "GET warm            ", "read", "plain read "),
                                 ("get_cold", "GET cold            ", "read_cold", "plain read ")):
        rows.append(f"  {label}   {rate[k]:7.0f} MiB/s   {rate[k] / rate[base]:.2f}x {what}   {med[k].cpu()}")
    served = [ph for k in ("put", "put_signed", "get", "get_cold") for ph in figures[k]]
    rss = max(ph.rss_growth for ph in served)
    rows.append(f"  server RSS growth      peak VmRSS above its value at the start of a PUT or GET: at most {rss:.1f} MB; "
                f"VmHWM grew {sum(ph.hwm_growth for ph in phases):.1f} MB in all")
    return {"put": rate["put"] / rate["write"], "get": rate["get"] / rate["read"], "rss": rss}


# ---- 2. many small objects

def spread(fn, keys):
    """Runs fn(i, state) for each i of `keys` on CONNECTIONS threads, each with its own state."""
    def share(k):
        state = {}
        for i in keys[k::CONNECTIONS]:
            fn(i, state)
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        for f in [pool.submit(share, k) for k in range(CONNECTIONS)]:
            f.result()


def small_phase(srv, signer, n, rounds, rows):
    body = os.urandom(SMALL)
    body_sha = hashlib.sha256(body).hexdigest()  # the same body each time: hashed once
    # The plain files go beside the objects, in the same folder: on this
    # machine's ext4 (no journal) the cost of a new file depends on its
    # folder's inode group (see the module's notes).
    folder = os.path.join(srv.data_dir, "obs", BUCKET, "small")
    os.makedirs(folder)

    def client(state):  # a connection per thread, kept alive through its share
        if "c" not in state:
            state["c"] = Client(srv.obs_port, signer)
        return state["c"]

    def create(i, _):
        fd = os.open(os.path.join(folder, f"plain{i:06d}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, body)
        os.fsync(fd)
        os.close(fd)

    def read(i, _):
        with open(os.path.join(folder, f"plain{i:06d}"), "rb", buffering=0) as f:
            assert f.read() == body

    def put(i, state):
        st, _, out = client(state).request("PUT", f"/{BUCKET}/small/{i:06d}", body=body, payload_hash=body_sha)
        assert st == 200, (st, out[:300])

    def get(i, state):
        st, _, out = client(state).request("GET", f"/{BUCKET}/small/{i:06d}")
        assert st == 200 and out == body, (st, out[:300])

    # In rounds, the plain files' share next to the endpoint's, which goes
    # first every other round: this machine's fsync rate drifts several-fold
    # within minutes. What the large phase freed is trimmed first (os.sync:
    # the file system is mounted with `discard`).
    os.sync()
    slices = [list(range(n))[r::rounds] for r in range(rounds)]
    phases = {}
    for fns in ((create, put), (read, get)):
        for r, part in enumerate(slices):
            for fn in (fns if r % 2 == 0 else fns[::-1]):
                ph = Phase(srv.proc.pid)
                spread(fn, part)
                phases.setdefault(fn.__name__, []).append(ph.done())
    rate = {k: n / sum(ph.secs for ph in v) for k, v in phases.items()}

    def cpu(k):
        v = phases[k]
        secs = sum(ph.secs for ph in v)
        return cpu_use(sum(ph.srv for ph in v), sum(ph.cli for ph in v), secs)

    def spread_of(k):
        return "/".join(f"{len(slices[r]) / ph.secs:.0f}" for r, ph in enumerate(phases[k]))

    rows.append(f"small objects, {n} x 16 KiB, {CONNECTIONS} connections / threads, in {rounds} rounds "
                f"(per round: create {spread_of('create')}, PUT {spread_of('put')} /s)")
    rows.append(f"  plain file create+fsync {rate['create']:7.0f} files/s     read {rate['read']:.0f} files/s")
    rows.append(f"  PUT (payload signed)    {rate['put']:7.0f} objects/s   {rate['put'] / rate['create']:.2f}x plain create   "
                f"{cpu('put')}")
    rows.append(f"  GET                     {rate['get']:7.0f} objects/s   {rate['get'] / rate['read']:.2f}x plain read     "
                f"{cpu('get')}")
    return {"put": rate["put"] / rate["create"], "put_rate": rate["put"]}


# ---- 3. listing a large prefix

def list_page(c, query):
    t = time.perf_counter()
    st, _, out = c.request("GET", f"/{BUCKET}", query=[("list-type", "2"), ("prefix", "list/"), ("max-keys", str(PAGE))]
                           + query)
    ms = (time.perf_counter() - t) * 1000
    assert st == 200, (st, out[:300])
    text = out.decode()
    keys = re.findall(r"<Key>([^<]*)</Key>", text)
    token = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", text)
    return ms, keys, token.group(1) if token else None, text.count("<ETag>")


def list_pass(srv, c, n, starts):
    """Every page through continuation tokens, then pages at the given start-after
    positions; the latencies of each, the ETags seen and the server's CPU
    milliseconds per page."""
    seq, etags, total, token, last = [], 0, 0, None, ""
    ph = Phase(srv.proc.pid)
    while True:
        ms, keys, token, e = list_page(c, [("continuation-token", token)] if token else [])
        seq.append(ms)
        assert keys and keys[0] > last and keys == sorted(keys), "pages out of order"
        total, last, etags = total + len(keys), keys[-1], etags + e
        if not token:
            break
    assert total == n, (total, n)
    rnd = []
    for s in starts:
        ms, keys, _, e = list_page(c, [("start-after", f"list/{s:07d}")])
        rnd.append(ms)
        assert len(keys) == min(PAGE, n - s - 1) and (not keys or keys[0] == f"list/{s + 1:07d}"), (s, keys[:1])
        etags += e
    ph.done()
    return seq, rnd, etags, ph.srv * 1000 / (len(seq) + len(rnd))


def list_phase(srv, signer, n, rows):
    folder = os.path.join(srv.data_dir, "obs", BUCKET, "list")
    os.makedirs(folder)
    names = [os.path.join(folder, f"{i:07d}") for i in range(n)]
    made = timed(lambda: [os.mknod(p, 0o644 | stat.S_IFREG) for p in names])
    time.sleep(2.1)  # the store keeps a folder's listing once the folder is unchanged for 1 to 2 clock seconds
    c = Client(srv.obs_port, signer)
    first, _, _, _ = list_page(c, [])
    rng = random.Random(7)
    starts = [rng.randrange(n) for _ in range(200 if n >= 100_000 else 100)]
    seq, rnd, etags, cpu = list_pass(srv, c, n, starts)
    assert etags == 0, etags
    tagged = timed(lambda: [os.setxattr(p, "user.atelier.etag", EMPTY_MD5.encode()) for p in names])
    seq2, rnd2, etags2, cpu2 = list_pass(srv, c, n, starts)
    assert etags2 == n + sum(min(PAGE, n - s - 1) for s in starts), etags2
    rows.append(f"ListObjectsV2, pages of {PAGE} in a prefix of {n} objects (files placed in {made:.1f} s, "
                f"ETag attributes set in {tagged:.1f} s)")
    rows.append(f"  first page (the folder read into the listing cache) {first:.1f} ms")
    for name, s, r, ms in (("no ETag attribute", seq, rnd, cpu), ("ETag attribute   ", seq2, rnd2, cpu2)):
        rows.append(f"  {name}  continuation ({len(s)} pages) p50 {pct(s, 50):5.2f} ms  p99 {pct(s, 99):5.2f} ms   "
                    f"start-after ({len(r)} pages) p50 {pct(r, 50):5.2f} ms  p99 {pct(r, 99):5.2f} ms   "
                    f"server CPU {ms:.2f} ms a page")
    return {"p99": max(pct(v, 99) for v in (seq, rnd, seq2, rnd2))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--huge", action="store_true", help="the large object phase alone, at 5 GiB")
    ap.add_argument("--large-mib", type=int, default=1024)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--list-objects", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, help="the server's I/O threads (ATELIER_THREADS; default its own, 2)")
    a = ap.parse_args()
    large = (16 if a.smoke else 5120 if a.huge else a.large_mib) << 20
    small = 500 if a.smoke else a.small
    listed = 20_000 if a.smoke else a.list_objects
    rows, res = [], {}
    load0 = os.getloadavg()[0]
    srv = Server(extra_env={"ATELIER_THREADS": str(a.threads)} if a.threads else None)
    try:
        tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        ak, sk = make_key(srv, {"X-Auth-Token": tok}, body["user"]["id"])
        signer = Signer(ak, sk)
        c = Client(srv.obs_port, signer)
        st, _, out = c.request("PUT", f"/{BUCKET}")
        assert st == 200, (st, out)
        res["large"] = large_phase(srv, c, large, 1 if a.huge else 3, rows)
        if not a.huge:
            res["small"] = small_phase(srv, signer, small, 2 if a.smoke else 4, rows)
            res["list"] = list_phase(srv, signer, listed, rows)
        server_hwm = status_kb(srv.proc.pid, "VmHWM") / 1024
    finally:
        srv.cleanup()

    print(f"obs_bench: the object endpoint over SigV4, server with {a.threads or 'its default'} I/O threads, on "
          f"{os.cpu_count()} cores; load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
          f"(anything above what this run adds is other work competing)")
    print("\n".join(rows))
    print(f"server peak RSS over the run (VmHWM) {server_hwm:.1f} MB")
    L = res["large"]
    checks = [("large PUT >= 0.5x plain write", f"{L['put']:.2f}x", L["put"] >= 0.5),
              ("large GET >= 0.7x plain read (warm)", f"{L['get']:.2f}x", L["get"] >= 0.7),
              ("server RSS growth < 100 MB", f"{L['rss']:.1f} MB", L["rss"] < 100)]
    if "small" in res:
        S, P = res["small"], res["list"]
        checks += [("small PUT >= 0.3x plain create", f"{S['put']:.2f}x", S["put"] >= 0.3),
                   ("small PUT >= 3,000 objects/s", f"{S['put_rate']:.0f}/s", S["put_rate"] >= 3000),
                   ("list page p99 <= 20 ms", f"{P['p99']:.1f} ms", P["p99"] <= 20)]
    for name, value, ok in checks:
        print(f"  {name:38s} {value:>9s}   {'met' if ok else 'NOT met'}")
    print("targets:", "met" if all(ok for _, _, ok in checks) else "NOT met",
          "(at smoke size the figures are too small to judge)" if a.smoke else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
