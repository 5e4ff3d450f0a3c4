"""Upload benchmark: how long the POST of a 50 MB CSV takes (the request alone, no analysis).

Runs the real app's web process as in production (DEBUG off): the Procfile's
`web:` line (gunicorn, config/gunicorn.py) against PostgreSQL and Redis, and
NO worker, so nothing else of the app competes for the CPU while the
uploads are timed. The jobs stay `queued`; the database is dropped by the
next run.

Run it from the project root:

    .venv/bin/python tests/benchmarks/bench_upload.py [--runs 5] [--warmup 1] [--bytes 52363264]

What it does:

- drops and re-creates the database `sentimeter_bench_upload` and runs
  `manage.py migrate` (left behind for inspection), flushes Redis database 4;
- starts web with SUBMITS_PER_MINUTE, MAX_ACTIVE_JOBS_PER_SESSION and
  MAX_QUEUE_DEPTH out of reach (every POST is a new job of one session) and
  MAX_UPLOAD_BYTES at its default (50 MiB; --max-upload-bytes to change it);
- generates a CSV of review texts (~80 words, bench_analyzer.py's generator)
  of just under --bytes (default: the 50 MiB default limit less 64 KiB) and
  its multipart body once, before anything is timed;
- POSTs it --warmup times uncounted, then --runs times, one after the other,
  each a new job; meanwhile samples the web process tree's memory.

It reports the median (and each value) of the POST's wall time at the
client (body sent -> 202 read) and of gunicorn's own request time from its
access log, and the web processes' peak RSS. Target: median POST <= 2 s.
Missing it still exits 0 (a measurement, not a test); anything that breaks
exits 1. The machine is shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import harness
import psycopg
from bench_analyzer import review_texts
from harness import Process

DB_NAME = "sentimeter_bench_upload"
DATABASE_URL = harness.database_url(DB_NAME)
REDIS_URL = f"{harness.REDIS_SERVER_URL}/4"
DEFAULT_LIMIT = 50 * 1024 * 1024  # config/settings.py MAX_UPLOAD_BYTES default
TARGET_S = 2.0
ACCESS_LOG = re.compile(r'"POST /api/jobs/ HTTP/[\d.]+" (\d{3}) \S+ (\d+)ms')


def csv_of_size(limit: int, *, seed: int) -> tuple[bytes, int]:
    """A CSV of ~80-word reviews of at most `limit` bytes, cut after its last whole row: (data, rows)."""
    n = limit // 400 + 10  # more rows than fit: a row is about 450 bytes
    while True:
        data = harness.csv_bytes(review_texts(n, 80, seed=seed))
        if len(data) > limit:
            break
        n *= 2
    # The generated texts hold no line breaks, so every line after the header is one row.
    data = data[: data.rindex(b"\n", 0, limit) + 1]
    return data, data.count(b"\n") - 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed POSTs (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted POSTs first (default 1)")
    parser.add_argument(
        "--bytes",
        type=int,
        default=DEFAULT_LIMIT - 64 * 1024,
        help=f"CSV size, at most (default {DEFAULT_LIMIT - 64 * 1024}: 50 MiB less 64 KiB)",
    )
    parser.add_argument(
        "--max-upload-bytes", type=int, default=None, help="MAX_UPLOAD_BYTES (default: app's)"
    )
    parser.add_argument("--seed", type=int, default=42, help="text generator seed (default 42)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.bytes < 1000:
        parser.error("--runs must be >= 1, --warmup >= 0, --bytes >= 1000")
    return args


def bench(args: argparse.Namespace) -> None:
    commands = harness.procfile_commands()
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    overrides = {"MAX_ACTIVE_JOBS_PER_SESSION": "100000", "MAX_QUEUE_DEPTH": "100000"}
    if args.max_upload_bytes is not None:
        overrides["MAX_UPLOAD_BYTES"] = str(args.max_upload_bytes)
    env = harness.app_env(
        port, database_url=DATABASE_URL, redis_url=REDIS_URL, debug=False, overrides=overrides
    )
    log_dir = Path(tempfile.mkdtemp(prefix="sentimeter-upload-"))
    limit = args.max_upload_bytes or DEFAULT_LIMIT

    print("Sentimeter upload benchmark (POST /api/jobs/ with a big CSV; no worker)")
    print(harness.machine_line())
    print(
        f"parameters: runs={args.runs} warmup={args.warmup} bytes<={args.bytes:,} "
        f"MAX_UPLOAD_BYTES={limit:,}{'' if args.max_upload_bytes else ' (default)'} "
        f"WEB_CONCURRENCY={env.get('WEB_CONCURRENCY', '2 (default)')}, DEBUG=0"
    )
    print(f"database: {DATABASE_URL}   redis: {REDIS_URL}   web: {base_url}")
    print(f"web:    {commands['web']}")
    print(f"logs:   {log_dir}", flush=True)

    data, rows = csv_of_size(args.bytes, seed=args.seed)
    body, content_type = harness.multipart_body("reviews.csv", data, {"column": "review"})
    print(
        f"input: {rows:,} rows, CSV {len(data):,} bytes ({len(data) / 1024 / 1024:.2f} MiB), "
        f"multipart body {len(body):,} bytes"
    )

    harness.database_recreate(DB_NAME)
    harness.migrate(env, log_dir)
    harness.redis_flush(REDIS_URL)
    processes: list[Process] = []
    try:
        web = Process("web", commands["web"], env=env, log_dir=log_dir)
        processes.append(web)
        harness.wait_until_ready(base_url, web)
        session, csrf = harness.session_open(base_url)
        times = []
        with session, harness.RssSampler([web.pgid], interval=0.05, pss=False) as memory:
            for i in range(args.warmup + args.runs):
                try:
                    _, seconds = harness.upload_post(session, base_url, csrf, body, content_type)
                except harness.BenchError:
                    web.check_alive()
                    raise
                label = "warm-up" if i < args.warmup else f"run {i - args.warmup + 1}"
                print(f"  {label}: {seconds:.3f} s (loadavg {harness.loadavg()})", flush=True)
                if i >= args.warmup:
                    times.append(seconds)
                time.sleep(0.5)
        with psycopg.connect(DATABASE_URL) as conn:
            stored = conn.execute("SELECT count(*), sum(size) FROM web_jobinput").fetchone()
        server = [int(ms) / 1000 for status, ms in ACCESS_LOG.findall(web.log_text()) if status == "202"]
        server = server[args.warmup :]
    finally:
        harness.shutdown(processes, redis_url=REDIS_URL, log_dir=log_dir, what="web")

    print(f"\nstored: {stored[0]} job inputs, {stored[1]:,} bytes")
    print(f"{'seconds':<34}{'median':>8}{'min':>8}{'max':>8}   each")
    print(
        f"{'POST /api/jobs/ (client)':<34}{statistics.median(times):8.3f}{min(times):8.3f}{max(times):8.3f}"
        f"   {' '.join(f'{t:.3f}' for t in times)}"
    )
    if server:
        print(
            f"{'gunicorn request time (access log)':<34}{statistics.median(server):8.3f}{min(server):8.3f}"
            f"{max(server):8.3f}   {' '.join(f'{t:.3f}' for t in server)}"
        )
    biggest = memory.biggest()
    if biggest:
        print(
            f"web peak RSS: biggest process {harness.mib(max(biggest.rss_kb, biggest.hwm_kb))} "
            f"(pid {biggest.pid}), all web processes together {harness.mib(memory.sum_rss_kb)}"
        )
    median = statistics.median(times)
    verdict = "met" if median <= TARGET_S else "MISSED"
    mb_s = len(body) / median / 1024 / 1024
    print(
        f"\nmedian POST of {len(data) / 1024 / 1024:.1f} MiB: {median:.3f} s = {mb_s:.1f} MiB/s "
        f"(target <= {TARGET_S:g} s: {verdict})"
    )
    print(f"loadavg at the end: {harness.loadavg()}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
