"""Scaling benchmark: one big VADER job with 1, 2, 4 ... worker processes, and where each text's CPU goes.

Each count runs as one worker dyno of N processes (WORKER_CONCURRENCY=N, the supervisor's
children), as a bigger dyno would, up to the machine's cores (more with --oversubscribe: up to
twice them, where each process gets less than a core and the per-process rate falls for that
reason alone). The job, the app and the client are bench_throughput.py's (`run_one`: a fresh
database per count, the Procfile's web and worker lines, a CSV upload polled until it succeeded).

Run it from the project root, on a Redis server nobody else uses (its CPU is the server's), in a
database no test run flushes meanwhile (the suite empties the three just below REDIS_URL's):

    .venv/bin/python tests/benchmarks/bench_scaling.py --redis-url redis://127.0.0.1:6381/14 \
        [--rows 60000] [--processes 1 2] [--oversubscribe]

Per count it prints the end-to-end rate, the rate per process (and as a multiple of the raw
one-core analyzer, measured once before the first count), and the CPU seconds per 1,000 texts of:

- Postgres: the backends of the benchmark's database (every process `pg_stat_activity` lists for
  it, workers' and web's, sampled every 0.2 s from /proc while the job runs; a backend that ends
  between two samples loses at most its last 0.2 s). Postgres's own background processes (WAL
  writer, checkpointer) serve every database on the server and are left out;
- Redis: the server process (`INFO server`'s process_id), from /proc, over the job;
- the chunk jobs' steps, from the line each logs: load (read its range of the stored upload,
  inflate, parse), analyze, store (COPY of its results, the job's counters), refill (queue the
  next chunks); and the workers' other CPU (the split, which parses the whole upload once in one
  process, RQ's dequeues and heartbeats, the supervisor);
- web (the polls).

Then, from the largest count measured, what 16 and 64 processes would ask of Postgres, Redis and
the splitter, each at the per-text cost measured (README "Benchmarks" says what it means).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import harness
import psycopg
import redis
from bench_analyzer import analyzer_load, describe, measure, review_texts
from bench_throughput import Layout, Run, run_one

DB_NAME = "sentimeter_bench_scaling"
REDIS_URL = f"{harness.REDIS_SERVER_URL}/5"
SAMPLE_INTERVAL = 0.2  # seconds between two reads of the database's backends
PREDICT = (16, 64)
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process, in seconds (None if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


class BackendsCpu:
    """CPU seconds the backends of one database use while it is entered (a sampling thread)."""

    def __init__(self, admin_url: str, db_name: str) -> None:
        self.admin_url = admin_url
        self.db_name = db_name
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backends-cpu", daemon=True)
        self._conn: psycopg.Connection | None = None

    def __enter__(self) -> BackendsCpu:
        self._conn = psycopg.connect(self.admin_url, autocommit=True)
        # Backends already there count from now; ones that start later, from their start.
        self._sample(baseline=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(baseline=False)
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL):
            self._sample(baseline=False)

    def _sample(self, *, baseline: bool) -> None:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.db_name]
        ).fetchall()
        for (pid,) in rows:
            seconds = cpu_seconds(pid)
            if seconds is None:
                continue
            self.first.setdefault(pid, seconds if baseline else 0.0)
            self.last[pid] = seconds

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)

    @property
    def backends(self) -> int:
        return len(self.last)


class ServerCpu:
    """CPU seconds of the Redis server while it is entered."""

    def __init__(self, redis_url: str) -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            self.pid = int(client.info("server")["process_id"])
        finally:
            client.close()
        if cpu_seconds(self.pid) is None:
            raise harness.BenchError(f"Redis at {redis_url} runs as pid {self.pid}, not on this machine")
        self.seconds = 0.0

    def __enter__(self) -> ServerCpu:
        self._start = cpu_seconds(self.pid) or 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = (cpu_seconds(self.pid) or self._start) - self._start


class Meter:
    """Both meters around the timed part of a run."""

    def __init__(self, db_name: str, redis_url: str) -> None:
        self.postgres = BackendsCpu(harness.PG_ADMIN_URL, db_name)
        self.redis = ServerCpu(redis_url)

    def __enter__(self) -> Meter:
        self.postgres.__enter__()
        self.redis.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.redis.__exit__(*exc)
        self.postgres.__exit__(*exc)


@dataclass
class Point:
    processes: int
    run: Run
    postgres_s: float
    backends: int
    redis_s: float

    def per_1000(self, seconds: float) -> float:
        return 1000 * seconds / self.run.rows

    @property
    def split_s(self) -> float | None:
        split = [j for j in self.run.rq if "_chunk" not in j.id and j.seconds is not None]
        return split[0].seconds if split else None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = os.cpu_count() or 1
    parser.add_argument("--rows", type=int, default=60_000, help="texts in the CSV (default 60000)")
    parser.add_argument("--words", type=int, default=80, help="words per text, about (default 80)")
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=None,
        help=f"worker process counts (default 1, 2, 4 ... up to the {cores} cores; 2x with --oversubscribe)",
    )
    parser.add_argument(
        "--oversubscribe", action="store_true", help="go on doubling up to twice the machine's cores"
    )
    parser.add_argument(
        "--raw-texts", type=int, default=4000, help="texts for the raw reference (default 4000)"
    )
    parser.add_argument("--raw-repeats", type=int, default=3, help="raw repeats (default 3)")
    parser.add_argument("--seed", type=int, default=42, help="text generator seed (default 42)")
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="seconds between polls (default 0.5)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one job may take (default 1800)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE app setting (repeatable)")
    parser.add_argument(
        "--db-name", default=DB_NAME, help=f"database re-created per count (default {DB_NAME})"
    )
    parser.add_argument(
        "--redis-url", default=REDIS_URL, help=f"Redis database, flushed per count (default {REDIS_URL})"
    )
    args = parser.parse_args(argv)
    if args.processes is None:
        top = cores * (2 if args.oversubscribe else 1)
        args.processes = [1]
        while args.processes[-1] * 2 <= top:
            args.processes.append(args.processes[-1] * 2)
        if args.processes[-1] != top:
            args.processes.append(top)
    if args.rows < 2 or any(n < 1 for n in args.processes):
        parser.error("--rows must be >= 2 and --processes >= 1")
    try:
        args.env = harness.parse_env(args.env)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    args.database_url = harness.database_url(args.db_name)
    # What bench_throughput.run_one reads besides these.
    args.analyzer = "vader"
    return args


def bench(args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} CPUs; loadavg {harness.loadavg()}", flush=True)
    log_root = Path(tempfile.mkdtemp(prefix="sentimeter-scaling-"))
    print(f"logs:   {log_root}", flush=True)
    texts = review_texts(args.rows, args.words, seed=args.seed)
    data = harness.csv_bytes(texts)
    body, content_type = harness.multipart_body(
        "reviews.csv", data, {"column": "review", "analyzer": "vader"}
    )
    print(f"input: {describe(texts)}; CSV {len(data):,} bytes", flush=True)
    raw = measure(texts[: args.raw_texts], repeats=args.raw_repeats, analyzer=analyzer_load("vader"))
    print(f"raw one-core vader: {raw.texts_per_s:,.0f} texts/s; loadavg {harness.loadavg()}", flush=True)

    points = []
    for n in args.processes:
        meter = Meter(args.db_name, args.redis_url)
        run = run_one(Layout(1, n), args, body, content_type, len(data), log_root, meter=meter)
        points.append(Point(n, run, meter.postgres.seconds, meter.postgres.backends, meter.redis.seconds))
        print(f"  {n} process(es): {run.wall_s:.1f} s; loadavg {run.loadavg}", flush=True)
    report(points, raw.texts_per_s)


def report(points: list[Point], raw_rate: float) -> None:
    print(
        f"\n{'procs':>5}{'texts/s':>9}{'/proc':>7}{'x raw':>7}  CPU s per 1,000 texts: "
        f"{'postgres':>9}{'redis':>7}{'load':>7}{'analyze':>8}{'store':>7}{'refill':>7}{'w.other':>8}{'web':>6}"
        f"{'split s':>9}{'backends':>9}  loadavg"
    )
    for p in points:
        run, cpu = p.run, p.run.chunk_cpu
        steps = cpu["load"] + cpu["analyze"] + cpu["store"] + cpu["refill"]
        rate = run.texts_per_s
        split = f"{p.split_s:.1f}" if p.split_s is not None else "-"
        print(
            f"{p.processes:>5}{rate:>9,.0f}{rate / p.processes:>7,.0f}{rate / raw_rate:>7.2f}  "
            f"{'':<22}{p.per_1000(p.postgres_s):>9.3f}{p.per_1000(p.redis_s):>7.3f}"
            f"{p.per_1000(cpu['load']):>7.3f}{p.per_1000(cpu['analyze']):>8.3f}{p.per_1000(cpu['store']):>7.3f}"
            f"{p.per_1000(cpu['refill']):>7.3f}{p.per_1000(run.worker_cpu_s - steps):>8.3f}"
            f"{p.per_1000(run.web_cpu_s):>6.3f}{split:>9}{p.backends:>9}  {run.loadavg}"
        )
    print(
        "/proc: texts/s per worker process; load: read + inflate + parse of a chunk's range; w.other: the "
        "workers' CPU outside the chunk steps (split, RQ, heartbeats); split s: the split job's wall time."
    )
    predict(points[-1])


def predict(p: Point) -> None:
    """What PREDICT processes would ask of the shared parts, at the per-text costs measured at p."""
    run = p.run
    per_process = run.texts_per_s / p.processes
    split_rate = run.rows / p.split_s if p.split_s else None
    print(f"\nat {per_process:,.0f} texts/s per process (as measured with {p.processes}):")
    for n in PREDICT:
        rate = n * per_process
        postgres = rate * p.postgres_s / run.rows
        redis_cores = rate * p.redis_s / run.rows
        splitter = f"{rate / split_rate:.2f}x what the one splitter gives" if split_rate else "split unknown"
        print(
            f"  {n:>3} processes: {rate:,.0f} texts/s would need Postgres {postgres:.2f} cores, Redis "
            f"{redis_cores:.2f} of its one core, and chunks at {splitter} ({split_rate or 0:,.0f} texts/s)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
