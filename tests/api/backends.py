"""The two stores behind a server, as tests reach them past its API: the
object store (OBS) and the metadata database. Every test that needs to look
at or arrange what lies behind the API goes through these two classes, one
instance each per server (`server.objects`, `server.db`; the session server's
are also the fixtures `objects` and `db`), so that running the suite against
another backend (s3://, postgresql://) means writing one more class here, not
editing tests.

Today both are the server's embedded backends, in its data dir:
  - the object store is a folder per bucket under <data_dir>/obs
    (src/obs/local_store.cc);
  - the database is SQLite, a file in the data dir (src/store/sqlite.cc).
"""
import hashlib
import os
import time


def obs_split(path):
    """(bucket, key) of an OBS path as the API takes it: /bucket/key,
    obs://bucket/key or s3://bucket/key (a key ending in '/' is a folder)."""
    for scheme in ("obs://", "s3://"):
        if path.startswith(scheme):
            path = "/" + path[len(scheme):]
            break
    assert path.startswith("/"), f"not an OBS path: {path!r}"
    bucket, _, key = path[1:].partition("/")
    assert bucket, f"no bucket in {path!r}"
    return bucket, key


class LocalObjectStore:
    """The server's object store, past the API: objects that stand for files
    already in OBS before a test's requests, and what the server wrote there.

    Paths are OBS paths (see obs_split). Methods:
      put(path, data)      writes an object (bytes or str), creating its bucket;
                           a folder path (ending in '/') with b"" makes the
                           folder (its marker)
      put_many(paths, data)  the same content at many paths, fast
      get(path)            its bytes, or None when there is no such object
      text(path)           its content as UTF-8 text (asserting it exists)
      head(path)           (size, modification time in ns) of an object, or None
      exists(path)         whether there is an object at path; for a folder
                           path (ending in '/'), whether there is anything at
                           or under it (a folder marker, objects)
      delete(path)         removes one object; True when there was one
      delete_all(prefix)   removes every object under a folder path; how many
      list(prefix)         names (relative to the folder path `prefix`, sorted)
                           of everything under it, recursively; an empty
                           folder is a marker, listed as "name/"
      copy_to(path, file)  the object's content into a local file (for tools
                           that read files, e.g. torch.load); returns file
      local_path(path)     the embedded backend's own file or folder for path
                           ("/": the store's folder):
                           only for tests of that backend's layout (symlinks,
                           names that are no UTF-8, ...)

    Backed by the embedded backend: <root>/<bucket>/<key>. Writes go straight
    to the file, as a client's upload through another OBS gateway would:
    the server sees them the way it sees any change made past it."""

    def __init__(self, root):
        self.root = root

    @classmethod
    def of_data_dir(cls, data_dir):
        """The store of a server started with --data-dir data_dir."""
        return cls(os.path.join(data_dir, "obs"))

    def local_path(self, path):
        if path == "/":
            return self.root  # the whole store
        bucket, key = obs_split(path)
        return os.path.join(self.root, bucket, key)

    def put(self, path, data):
        if isinstance(data, str):
            data = data.encode()
        full = self.local_path(path)
        if path.endswith("/"):
            assert data == b"", f"a folder marker has no content: {path!r}"
            os.makedirs(full, exist_ok=True)
            return
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if os.path.isfile(full) and os.stat(full).st_nlink > 1:
            os.remove(full)  # one of put_many's links: the others keep their content
        with open(full, "wb") as f:
            f.write(data)

    def put_many(self, paths, data):
        """Here: hard links of one file, written once outside the store."""
        if isinstance(data, str):
            data = data.encode()
        seeds = os.path.join(os.path.dirname(self.root), "test-seeds")
        os.makedirs(seeds, exist_ok=True)
        seed = os.path.join(seeds, hashlib.sha256(data).hexdigest())
        if not os.path.exists(seed):
            with open(seed, "wb") as f:
                f.write(data)
        made = set()
        for p in paths:
            full = self.local_path(p)
            d = os.path.dirname(full)
            if d not in made:
                os.makedirs(d, exist_ok=True)
                made.add(d)
            if os.path.lexists(full):
                os.remove(full)
            os.link(seed, full)

    def get(self, path):
        full = self.local_path(path)
        if not os.path.isfile(full):
            return None
        with open(full, "rb") as f:
            return f.read()

    def text(self, path):
        data = self.get(path)
        assert data is not None, f"no object {path}"
        return data.decode("utf-8")

    def head(self, path):
        full = self.local_path(path)
        if not os.path.isfile(full):
            return None
        st = os.stat(full)
        return st.st_size, st.st_mtime_ns

    def exists(self, path):
        full = self.local_path(path)
        return os.path.isdir(full) if path.endswith("/") else os.path.isfile(full)

    def delete(self, path):
        full = self.local_path(path)
        if not os.path.isfile(full):
            return False
        os.remove(full)
        return True

    def delete_all(self, prefix):
        assert prefix.endswith("/"), f"a folder path ends with '/': {prefix!r}"
        top = self.local_path(prefix)
        names = [n for n in self.list(prefix) if not n.endswith("/")]
        for n in names:
            os.remove(os.path.join(top, n))
        # and the folders, which S3 does not have
        for d, _, _ in sorted(os.walk(top), key=lambda x: -len(x[0])):
            os.rmdir(d)
        return len(names)

    def list(self, prefix):
        """Names under the folder path `prefix`, relative to it, sorted. On this
        backend every entry that is no folder counts, also what the server
        itself would not list as an object (a symlink, a FIFO): a test looking
        for what must not be there sees it."""
        assert prefix.endswith("/"), f"a folder path ends with '/': {prefix!r}"
        top = self.local_path(prefix)
        out = []
        for d, ds, fs in os.walk(top):
            for f in fs + [x for x in ds if os.path.islink(os.path.join(d, x))]:
                out.append(os.path.relpath(os.path.join(d, f), top))
            if not ds and not fs and d != top:
                out.append(os.path.relpath(d, top) + "/")
        return sorted(out)

    def copy_to(self, path, file):
        data = self.get(path)
        assert data is not None, f"no object {path}"
        with open(file, "wb") as f:
            f.write(data)
        return file


class SqliteDatabase:
    """The server's metadata database, past the API: for the few tests that
    must arrange a state no request makes (an hour gone by, the data of an
    older server) or look at what the API does not show (a task a stop left
    RUNNING).

      query(sql, params=())      every row, as tuples
      query_one(sql, params=())  the first row, or None
      execute(sql, params=())    runs one statement and commits it; returns
                                 the rows it changed. On a running server it
                                 then waits until the server's readers see it

    The SQL is the server's portable dialect (`?` parameters, no SQLite-only
    functions; src/store/db.h), so that another backend's class only has to
    translate placeholders. Backed by sqlite3 on <data_dir>/meta.db."""

    # A commit of another process is seen by the server's readers within
    # kMaxSnapshotAge (50 ms, src/store/db.h); wait four times that.
    SETTLE_S = 0.2

    def __init__(self, path, running=lambda: True):
        self.path = path
        self.running = running  # whether a server process is using the database now

    @classmethod
    def of_data_dir(cls, data_dir, running=lambda: True):
        """The database of a server started with --data-dir data_dir."""
        return cls(os.path.join(data_dir, "meta.db"), running)

    def _connect(self):
        import sqlite3  # the one place tests open the database themselves
        return sqlite3.connect(self.path, timeout=10)

    def query(self, sql, params=()):
        db = self._connect()
        try:
            return db.execute(sql, tuple(params)).fetchall()
        finally:
            db.close()

    def query_one(self, sql, params=()):
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql, params=()):
        db = self._connect()
        try:
            with db:
                n = db.execute(sql, tuple(params)).rowcount
        finally:
            db.close()
        if self.running():
            time.sleep(self.SETTLE_S)
        return n
