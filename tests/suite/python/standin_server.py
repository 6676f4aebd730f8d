"""A stand-in for the reference server, for offline activation tests.

Run with a bundle's own Python: it loads the plugins of that bundle the way the reference
server does (`cosmo_bundle.load_plugins`, from the repository's python/ directory), and
answers `GET /health` ({"status": "ok"}), `GET /plugins/active` (the plugins it loaded,
as the reference server lists them) and the plugins' routes. A plugin's `router` is a
dict of path -> JSON body; a plugin may add a middleware with `app.add_middleware(fn)`,
where `fn(path)` returns None or (status, body).

    python standin_server.py --bundle DIR --port PORT [--data-dir DIR --record]

With --record it writes `<data-dir>/run/<pid>.json` as `cosmo-bundle start` does, with
host 0.0.0.0, and listens on every interface.
"""

import argparse
import datetime
import json
import logging
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cosmo_bundle import load_plugins


class StandInApp:
    """What plugins are mounted on."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.middleware: list = []

    def include_router(self, router, *, prefix: str = "") -> None:
        for path, body in router.items():
            self.routes[prefix + path] = body

    def add_middleware(self, fn) -> None:
        self.middleware.append(fn)


def start_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    app = StandInApp()
    plugins = load_plugins(app, args.bundle)
    active = [p.to_json() for p in plugins.loaded]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            for fn in app.middleware:
                answer = fn(self.path)
                if answer is not None:
                    return self.answer(*answer)
            if self.path == "/health":
                return self.answer(200, {"status": "ok"})
            if self.path == "/plugins/active":
                return self.answer(200, active)
            if self.path in app.routes:
                return self.answer(200, app.routes[self.path])
            return self.answer(404, {"detail": "Not Found"})

        def answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *a: object) -> None:
            pass

    host = "0.0.0.0" if args.record else "127.0.0.1"
    server = ThreadingHTTPServer((host, args.port), Handler)
    if args.record:
        pid = os.getpid()
        run = os.path.join(args.data_dir, "run")
        os.makedirs(run, exist_ok=True)
        record = {
            "pid": pid,
            "start_ticks": start_ticks(pid),
            "generation": None,
            "hash": os.path.basename(os.path.realpath(args.bundle)),
            "dir": os.path.realpath(args.bundle),
            "host": host,
            "port": args.port,
            "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        tmp = os.path.join(run, f".tmp-{pid}")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(run, f"{pid}.json"))
    print(f"serving {len(active)} plugin(s) on {host}:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


main()
