#!/usr/bin/env python3
"""Whole-process timings of cosmo-bundle on the offline fixtures: medians over N runs.

Usage: scripts/bench.py [RUNS]   (default 7; builds the release binary first)

Measures, each in a fresh temporary data directory unless said otherwise:
- cold build   : `build` of two plugins (uv lock + uv sync + plugin checks)
- cache hit    : `build` of a set whose bundle is in the store (no uv call; uv is
                 removed from PATH to prove it)
- no-op build  : `build` when the current generation already has the set
- switch       : `switch N` between two generations
- rollback     : `rollback`
- plugin list  : `plugin list --json` with 3 records
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target/release/cosmo-bundle"


def run(env, *args, check=True):
    return subprocess.run([str(BIN), *args], env=env, check=check, capture_output=True)


def timed(env, *args):
    start = time.perf_counter()
    run(env, *args)
    return time.perf_counter() - start


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    scratch = Path(tempfile.mkdtemp(prefix="cosmo-bundle-bench."))
    wheels = scratch / "wheels"
    subprocess.run([sys.executable, str(ROOT / "fixtures/make_wheelhouse.py"), str(wheels)], check=True)
    base = dict(os.environ, COSMO_SERVER_DIR=str(ROOT / "fixtures/server"), UV_OFFLINE="1",
                UV_NO_INDEX="1", UV_FIND_LINKS=str(wheels), UV_PYTHON_DOWNLOADS="never")
    no_uv = dict(base, PATH=str(scratch / "empty-path"))
    (scratch / "empty-path").mkdir()
    results = {k: [] for k in ["cold build", "cache hit", "no-op build", "switch", "rollback", "plugin list"]}
    for i in range(runs):
        env = dict(base, COSMO_DATA_DIR=str(scratch / f"data-{i}"))
        run(env, "plugin", "add", "zigbee-switch", "--version", "1.0.0")
        run(env, "plugin", "add", "hue-lights", "--version", "1.0.0")
        shutil.rmtree(scratch / f"data-{i}" / "resolved")  # make the build resolve itself
        results["cold build"].append(timed(env, "build"))
        results["no-op build"].append(timed(env, "build"))
        run(env, "plugin", "add", "garage-door", "--version", "1.0.0")
        run(env, "build")
        run(env, "plugin", "remove", "garage-door")
        results["cache hit"].append(timed(dict(no_uv, COSMO_DATA_DIR=env["COSMO_DATA_DIR"]), "build"))
        results["switch"].append(timed(env, "switch", "2"))
        results["rollback"].append(timed(env, "rollback"))
        results["plugin list"].append(timed(env, "--json", "plugin", "list"))
    print(f"{'operation':<14} {'median':>9} {'min':>9} {'max':>9}   ({runs} runs)")
    for name, values in results.items():
        ms = [v * 1000 for v in values]
        print(f"{name:<14} {statistics.median(ms):>7.1f}ms {min(ms):>7.1f}ms {max(ms):>7.1f}ms")
    shutil.rmtree(scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
