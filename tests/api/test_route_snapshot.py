"""The route table (`atelier routes`) against its committed snapshot.

A change of the API's surface — a route added, removed or renamed, an IAM
action, a dependent action, an access kind, a declared object path — must be
made on purpose: regenerate the snapshot with
    build/atelier routes > tests/api/routes.snapshot.json
and let the diff show it. Reordering routes is not a change."""
import json
import os
import subprocess

from conftest import BIN

SNAPSHOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "routes.snapshot.json")


def by_route(routes):
    return {(r["method"], r["path"]): r for r in routes}


def test_route_table_matches_the_snapshot():
    out = subprocess.run([BIN, "routes"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    now = by_route(json.loads(out.stdout))
    with open(SNAPSHOT) as f:
        then = by_route(json.load(f))
    assert len(now) == len(json.loads(out.stdout)), "a (method, path) is declared twice"
    added, removed = sorted(now.keys() - then.keys()), sorted(then.keys() - now.keys())
    changed = sorted(k for k in now.keys() & then.keys() if now[k] != then[k])
    assert not (added or removed or changed), {"added": added, "removed": removed,
                                               "changed": {f"{m} {p}": (then[(m, p)], now[(m, p)]) for m, p in changed}}
