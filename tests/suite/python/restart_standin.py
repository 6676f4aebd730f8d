"""A restart command for activation tests: stops the server it started last time (its pid
is in STATE/server.pid), starts the stand-in server (or `cosmo-bundle start`, with
--start BIN) on the bundle `current` points to now, and writes the new pid.

    python3 restart_standin.py STATE PORT [--record] [--start BIN] [--exit CODE] [--hang]

The data directory is COSMO_DATA_DIR, which cosmo-bundle sets for its restart command.
--exit CODE fails at once (nothing is stopped or started); --hang writes STATE/hang.pid and
sleeps. Every run appends a line to STATE/restarts.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def stop(pid_file: str) -> None:
    try:
        with open(pid_file) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(200):
        if not alive(pid):
            return
        # A child of ours that exited but was not reaped still answers kill(0).
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("state")
    parser.add_argument("port")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--start")
    parser.add_argument("--exit", type=int)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    data = os.environ["COSMO_DATA_DIR"]
    os.makedirs(args.state, exist_ok=True)
    with open(os.path.join(args.state, "restarts"), "a") as f:
        f.write(os.path.realpath(os.path.join(data, "current")) + "\n")
    if args.exit is not None:
        print("Failed to restart cosmoserver.service: Unit cosmoserver.service not found.", file=sys.stderr)
        sys.exit(args.exit)
    if args.hang:
        with open(os.path.join(args.state, "hang.pid"), "w") as f:
            f.write(str(os.getpid()))
        print("waiting for the server to stop...", file=sys.stderr, flush=True)
        time.sleep(3600)
    pid_file = os.path.join(args.state, "server.pid")
    stop(pid_file)
    bundle = os.path.realpath(os.path.join(data, "current"))
    log = open(os.path.join(args.state, "server.log"), "a")
    if args.start:
        cmd = [args.start, "start", "--port", args.port]
        env = dict(os.environ)
    else:
        cmd = [
            os.path.join(bundle, ".venv", "bin", "python"),
            os.path.join(HERE, "standin_server.py"),
            "--bundle", bundle, "--port", args.port, "--data-dir", data,
        ] + (["--record"] if args.record else [])
        env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"), PYTHONDONTWRITEBYTECODE="1")
    server = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True
    )
    with open(pid_file, "w") as f:
        f.write(str(server.pid))


main()
