"""Slow-client benchmark: does web keep answering while stalled connections hold sockets open?

Runs the Procfile's `web:` line as in production (DEBUG off, no worker) and,
over loopback only, opens --stalled connections that stop mid-request:
half stop inside their headers (`GET / HTTP/1.1`, `Host`, then `X-A: ` and
silence), half inside their bodies (`Content-Length: 1000`, 11 bytes sent).
Meanwhile --probers clients alternate `GET /healthz` and a poll of a job
(`GET /api/jobs/<id>/`, a queued job: no worker runs) for --duration
seconds, each waiting --interval between requests, each request on a new
connection as Heroku's legacy router sends them (--keepalive: one kept-alive
connection per prober, as Router 2.0 does).

Run it from the project root (bounded: at most 500 sockets, 120 s):

    .venv/bin/python tests/benchmarks/bench_slowclients.py [--stalled 100] [--duration 40]
        [--probers 4] [--interval 0.05] [--keepalive] [--worker-class gthread]

`--worker-class gthread` runs gunicorn's plain gthread worker instead of the
one config/gunicorn.py names, to show what it changes. It reports p50, p90,
p99 and max of each probe (a probe that failed or took longer than
--probe-timeout counts as that timeout), and when the server closed each
stalled socket. Targets: p99 <= 200 ms for both probes, every stalled
socket closed within 30 s of opening. Missing a target still exits 0.
"""

from __future__ import annotations

import argparse
import http.client
import json
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import harness
from harness import Process

DB_NAME = "sentimeter_bench_slowclients"
DATABASE_URL = harness.database_url(DB_NAME)
REDIS_URL = f"{harness.REDIS_SERVER_URL}/10"
TARGET_P99_MS = 200.0
TARGET_CLOSED_S = 30.0
MAX_STALLED = 500
MAX_DURATION = 120.0
HEAD_STALL = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: "
BODY_STALL = (
    b"POST /api/jobs/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n" + b'{"texts": ['
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stalled", type=int, default=100, help="stalled connections (default 100)")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of probing (default 40)")
    parser.add_argument("--probers", type=int, default=4, help="probing clients (default 4)")
    parser.add_argument("--interval", type=float, default=0.05, help="pause between probes (s)")
    parser.add_argument("--probe-timeout", type=float, default=5.0, help="a probe's timeout (s)")
    parser.add_argument("--worker-class", default=None, help="gunicorn worker class to run instead")
    parser.add_argument(
        "--keepalive", action="store_true", help="probe over kept-alive connections (default: a new one each)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.stalled <= MAX_STALLED or not 1 <= args.duration <= MAX_DURATION:
        parser.error(f"--stalled must be 0..{MAX_STALLED} and --duration 1..{MAX_DURATION:g}")
    if not 1 <= args.probers <= 16:
        parser.error("--probers must be 1..16")
    return args


class Stalled:
    """Sockets that stop mid-request, and when the server closed each."""

    def __init__(self, port: int, count: int) -> None:
        self.opened: dict[socket.socket, float] = {}
        self.closed: dict[socket.socket, float] = {}
        self.kinds: dict[socket.socket, str] = {}
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            kind = "head" if n % 2 == 0 else "body"
            sock.sendall(HEAD_STALL if kind == "head" else BODY_STALL)
            sock.setblocking(False)
            self.opened[sock] = time.monotonic()
            self.kinds[sock] = kind
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        selector = selectors.DefaultSelector()
        for sock in self.opened:
            selector.register(sock, selectors.EVENT_READ)
        while not self._stop.is_set() and len(self.closed) < len(self.opened):
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:  # EOF or reset: the server closed it (a 408 body counts as open)
                    self.closed[sock] = time.monotonic()
                    selector.unregister(sock)
        selector.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in self.opened:
            sock.close()

    def report(self) -> tuple[int, float | None]:
        """Print when they were closed; return (closed within the target, slowest close)."""
        within, slowest = 0, None
        for kind in ("head", "body"):
            socks = [s for s in self.opened if self.kinds[s] == kind]
            waits = [self.closed[s] - self.opened[s] for s in socks if s in self.closed]
            open_left = len(socks) - len(waits)
            within += sum(1 for w in waits if w <= TARGET_CLOSED_S)
            if waits:
                slowest = max(slowest or 0.0, max(waits))
                print(
                    f"stalled in {kind:<4}: {len(socks)} opened, {len(waits)} closed by the server "
                    f"(after median {statistics.median(waits):.1f} s, max {max(waits):.1f} s), "
                    f"{open_left} still open at the end"
                )
            else:
                print(f"stalled in {kind:<4}: {len(socks)} opened, none closed by the server")
        return within, slowest


def probe_loop(
    port: int, paths: list[str], cookie: str, stop: threading.Event, args, out: dict[str, list[float]]
) -> None:
    """Alternate the paths over one kept-alive connection, recording each answer's time (ms)."""
    conn = None
    n = 0
    while not stop.is_set():
        path = paths[n % len(paths)]
        n += 1
        started = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.probe_timeout)
            conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            if conn is not None:
                conn.close()
            conn = None
        elapsed = (time.perf_counter() - started) * 1000
        if not args.keepalive and conn is not None:
            conn.close()  # a new connection per request, as Heroku's legacy router opens them
            conn = None
        out[path].append(elapsed if ok else max(elapsed, args.probe_timeout * 1000))
        if not ok:
            out["failed:" + path].append(1)
        stop.wait(args.interval)
    if conn is not None:
        conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench(args: argparse.Namespace) -> None:
    commands = harness.procfile_commands()
    web_command = commands["web"]
    if args.worker_class:
        web_command += f" --worker-class {args.worker_class}"
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = harness.app_env(port, database_url=DATABASE_URL, redis_url=REDIS_URL, debug=False)
    log_dir = Path(tempfile.mkdtemp(prefix="sentimeter-slowclients-"))

    print("Sentimeter slow-client benchmark (stalled connections vs /healthz and polls; no worker)")
    print(harness.machine_line())
    print(
        f"parameters: stalled={args.stalled} duration={args.duration:g}s probers={args.probers} "
        f"interval={args.interval:g}s probe-timeout={args.probe_timeout:g}s "
        f"{'kept-alive' if args.keepalive else 'new'} connections, DEBUG=0"
    )
    print(f"web:    {web_command}")
    print(f"logs:   {log_dir}", flush=True)

    harness.database_recreate(DB_NAME)
    harness.migrate(env, log_dir)
    harness.redis_flush(REDIS_URL)
    processes: list[Process] = []
    stalled = None
    try:
        web = Process("web", web_command, env=env, log_dir=log_dir)
        processes.append(web)
        harness.wait_until_ready(base_url, web)
        session, csrf = harness.session_open(base_url)
        with session:
            response = session.post(
                f"{base_url}/api/jobs/", json={"texts": ["I love it"]}, headers={"X-CSRFToken": csrf}
            )
            if response.status_code != 202:
                raise harness.BenchError(f"submit answered {response.status_code}: {response.text[:200]}")
            poll_path = response.headers["Location"]
            cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.get_dict().items())
        paths = ["/healthz", poll_path]

        stalled = Stalled(port, args.stalled)
        print(f"{args.stalled} stalled connections open; probing for {args.duration:g} s ...", flush=True)
        stop = threading.Event()
        results: dict[str, list[float]] = {p: [] for p in paths} | {f"failed:{p}": [] for p in paths}
        outs = [{k: [] for k in results} for _ in range(args.probers)]
        threads = [
            threading.Thread(target=probe_loop, args=(port, paths, cookie, stop, args, out), daemon=True)
            for out in outs
        ]
        for thread in threads:
            thread.start()
        stop.wait(args.duration)
        stop.set()
        for thread in threads:
            thread.join(timeout=args.probe_timeout + 2)
        for out in outs:
            for key, values in out.items():
                results[key].extend(values)
        web.check_alive()
    finally:
        if stalled is not None:
            stalled.stop()
        harness.shutdown(processes, redis_url=REDIS_URL, log_dir=log_dir, what="web")

    print(f"\n{'probe (ms)':<36}{'count':>7}{'failed':>8}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}")
    verdicts = []
    for path, name in zip(paths, ["GET /healthz", "GET /api/jobs/<id>/ (poll)"], strict=True):
        times = results[path]
        failed = len(results[f"failed:{path}"])
        p99 = percentile(times, 0.99) if times else float("inf")
        verdicts.append(p99 <= TARGET_P99_MS)
        print(
            f"{name:<36}{len(times):>7}{failed:>8}{percentile(times, 0.5):8.1f}{percentile(times, 0.9):8.1f}"
            f"{p99:8.1f}{max(times):8.1f}"
            if times
            else f"{name:<36}{0:>7}{failed:>8}"
        )
    within, slowest = stalled.report() if stalled is not None else (0, None)
    closed_ok = within == args.stalled
    print(
        f"\np99 <= {TARGET_P99_MS:g} ms for both probes: {'met' if all(verdicts) else 'MISSED'}; "
        f"stalled sockets closed within {TARGET_CLOSED_S:g} s: {within}/{args.stalled} "
        f"({'met' if closed_ok else 'MISSED'})"
        + (f", slowest {slowest:.1f} s" if slowest is not None else "")
    )
    print(json.dumps({"loadavg": harness.loadavg()}))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
