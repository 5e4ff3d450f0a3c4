"""Memory benchmark: a worker's peak RSS while it processes a 1,000,000-row upload.

Runs the real app as in production (DEBUG off): the Procfile's `web:`
(gunicorn) and ONE `worker:` line, against PostgreSQL and Redis; uploads a
CSV of --rows short reviews (~15 words, so 1,000,000 rows stay near 80 MiB)
over HTTP as the page's own script does, and samples the worker's memory
until the job has succeeded.

Run it from the project root (1,000,000 rows take a few minutes):

    .venv/bin/python tests/benchmarks/bench_memory.py [--rows 1000000] [--words 15] [--interval 0.1]

What it does:

- drops and re-creates the database `sentimeter_bench_memory` (left behind for
  inspection), flushes Redis database 5;
- starts web and one worker with SUBMITS_PER_MINUTE out of reach,
  MAX_UPLOAD_BYTES twice the file's size and GUNICORN_TIMEOUT 300 s (the
  upload itself is bench_upload.py's business) (--env NAME=VALUE sets any
  other app setting, e.g. --env CHUNK_SIZE=2000);
- every --interval s (default 0.1) from just before the POST until the job has
  succeeded, reads VmRSS and VmHWM (the kernel's own peak, which catches spikes
  between samples) from /proc/<pid>/status, and Pss from smaps_rollup, of every
  process of the worker: its process group and descendants, i.e. `sh -c`, the
  RQ worker, its scheduler and each work horse (RQ forks one per RQ job: the
  splitter, then one per chunk).

It reports the peak of the biggest single process (which one, when, and which
RQ job it ran), the peak of the sum over the worker's processes (VmRSS counts
pages a horse shares with its parent twice; Pss splits them, closer to what a
dyno's memory quota counts), the web processes' peak (the upload itself), and
the job's duration. Target: worker peak RSS <= 300 MB (checked on the biggest
process and on the sums). Missing it still exits 0 (a measurement, not a
test); anything that breaks exits 1. The machine is shared: the load average
is printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import harness
from bench_analyzer import describe, review_texts
from harness import Process, ProcPeak, RqJob

DB_NAME = "sentimeter_bench_memory"
DATABASE_URL = harness.database_url(DB_NAME)
REDIS_URL = f"{harness.REDIS_SERVER_URL}/5"
TARGET_MB = 300  # MB = 10**6 bytes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="texts in the CSV (default 1000000)")
    parser.add_argument("--words", type=int, default=15, help="words per text, about (default 15)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between samples (default 0.1)")
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="seconds between polls (default 0.5)"
    )
    parser.add_argument("--seed", type=int, default=42, help="text generator seed (default 42)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds the job may take (default 3600)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE app setting (repeatable)")
    args = parser.parse_args(argv)
    if args.rows < 2 or args.words < 1 or args.interval <= 0 or args.poll_interval <= 0:
        parser.error("--rows must be >= 2, --words >= 1, --interval and --poll-interval > 0")
    try:
        args.env = harness.parse_env(args.env)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    return args


def mb(kb: float) -> str:
    return f"{kb * 1024 / 1e6:.1f} MB"


def role(peak: ProcPeak, worker: Process, parent_pid: int | None, sampler_t0_pids: set[int]) -> str:
    if peak.pid == worker.pgid:
        return "sh -c"
    if peak.pid == parent_pid:
        return "RQ worker (parent)"
    if peak.pid in sampler_t0_pids:
        return "RQ scheduler (child)"
    return "work horse"


def job_at(jobs: list[RqJob], t: float, started_wall: float) -> str:
    """The RQ job that ran at sampler time t (s since the sampler started, just before the POST)."""
    moment = datetime.fromtimestamp(started_wall + t, tz=UTC)
    for job in jobs:
        if job.started and job.ended and job.started <= moment <= job.ended + timedelta(seconds=0.2):
            return job.description or job.id
    return "no RQ job"


def bench(args: argparse.Namespace) -> None:
    commands = harness.procfile_commands()
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_dir = Path(tempfile.mkdtemp(prefix="sentimeter-memory-"))
    print("Sentimeter memory benchmark (one worker, one big upload)")
    print(harness.machine_line())
    print(
        f"parameters: rows={args.rows} words={args.words} interval={args.interval:g} s "
        f"poll-interval={args.poll_interval:g} s seed={args.seed} env={args.env or '-'}"
    )
    print(f"database: {DATABASE_URL}   redis: {REDIS_URL}   web: {base_url}")
    print(f"web:    {commands['web']}\nworker: {commands['worker']}")
    print(f"logs:   {log_dir}", flush=True)

    texts = review_texts(args.rows, args.words, seed=args.seed)
    print(f"input: {describe(texts)}", flush=True)
    data = harness.csv_bytes(texts)
    del texts
    body, content_type = harness.multipart_body("reviews.csv", data, {"column": "review"})
    size = len(data)
    del data
    print(f"CSV {size:,} bytes ({size / 1024 / 1024:.1f} MiB)", flush=True)
    overrides = {
        "MAX_UPLOAD_BYTES": str(max(50 * 1024 * 1024, 2 * size)),
        "MAX_ACTIVE_JOBS_PER_SESSION": "1000",
        # The upload of a file this size can take longer than gunicorn's 20 s request timeout
        # on a busy machine (bench_upload.py measures it); here only the worker is measured.
        "GUNICORN_TIMEOUT": "300",
        **args.env,
    }
    env = harness.app_env(
        port, database_url=DATABASE_URL, redis_url=REDIS_URL, debug=False, overrides=overrides
    )

    harness.database_recreate(DB_NAME)
    harness.migrate(env, log_dir)
    harness.redis_flush(REDIS_URL)
    processes: list[Process] = []
    try:
        web, (worker,) = harness.start_app(
            commands, env=env, log_dir=log_dir, base_url=base_url, workers=1, processes=processes
        )
        session, csrf = harness.session_open(base_url)
        table = harness.proc_table()
        before = harness.process_tree(worker.pgid, table)
        parent_pid = next((pid for pid in before if table[pid][0] == worker.pgid), None)
        children_at_start = {pid for pid in before if table[pid][0] == parent_pid}
        with (
            session,
            harness.RssSampler([worker.pgid], interval=args.interval) as memory,
            harness.RssSampler([web.pgid], interval=args.interval, pss=False) as web_memory,
        ):
            t0 = time.perf_counter()
            response, post_s = harness.upload_post(session, base_url, csrf, body, content_type)
            print(f"POST {post_s:.2f} s; processing ...", flush=True)
            job, polls = harness.job_wait(
                session,
                harness.job_url(base_url, response),
                t0=t0,
                poll_interval=args.poll_interval,
                timeout=args.timeout,
                processes=processes,
                every=harness.progress_printer(15.0),
            )
            wall_s = polls[-1].seconds
        rq = harness.rq_jobs(REDIS_URL)
        split = harness.SPLIT_LINE.search(worker.log_text())
    finally:
        harness.shutdown(processes, redis_url=REDIS_URL, log_dir=log_dir, what="web and worker")

    times = harness.job_times(job)
    print(f"\n--- {args.rows:,} rows, {size / 1024 / 1024:.1f} MiB CSV; loadavg {harness.loadavg()}")
    print(
        f"job: POST {post_s:.2f} s; POST -> succeeded {wall_s:.1f} s ({args.rows / wall_s:,.0f} texts/s); "
        f"server created -> started {times['queued']:.2f} s, started -> finished {times['run']:.1f} s"
    )
    print(f"{split.group(0) if split else 'no `N chunks, M texts` line in the worker log'}")
    chunks = [j for j in rq if "_chunk" in j.id and j.seconds is not None]
    splitter = [j for j in rq if "_chunk" not in j.id and j.seconds is not None]
    if splitter:
        print(f"split job (RQ): {splitter[0].seconds:.1f} s; chunk jobs: {len(chunks)}")
    print(f"samples: {memory.samples} every {args.interval:g} s; worker processes seen: {len(memory.procs)}")

    print(f"\n{'process':<30}{'pid':>8}{'peak VmRSS':>13}{'VmHWM':>12}  at      during")
    by_role: dict[str, list[ProcPeak]] = {}
    for peak in memory.procs.values():
        by_role.setdefault(role(peak, worker, parent_pid, children_at_start), []).append(peak)
    for name, peaks in by_role.items():
        top = max(peaks, key=lambda p: max(p.rss_kb, p.hwm_kb))
        more = f" (biggest of {len(peaks)})" if len(peaks) > 1 else ""
        print(
            f"{name + more:<30}{top.pid:>8}{mb(top.rss_kb):>13}{mb(top.hwm_kb):>12}  {top.peak_at:5.1f} s "
            f"{job_at(rq, top.peak_at, memory.started_wall)[:60]}"
        )
    biggest = memory.biggest()
    single_kb = max(biggest.rss_kb, biggest.hwm_kb) if biggest else 0
    web_biggest = web_memory.biggest()
    print(
        f"\nsum over the worker's processes: VmRSS {mb(memory.sum_rss_kb)} at {memory.sum_rss_at:.1f} s, "
        f"Pss {mb(memory.sum_pss_kb)} at {memory.sum_pss_at:.1f} s"
    )
    if web_biggest:
        print(
            f"web (the upload): biggest process {mb(max(web_biggest.rss_kb, web_biggest.hwm_kb))}, "
            f"all web processes {mb(web_memory.sum_rss_kb)}"
        )
    print(f"\n{'worker peak (target <= 300 MB)':<40}{'':>12}  verdict")
    for label, kb in (
        ("biggest single process (VmRSS/VmHWM)", single_kb),
        ("sum of its processes, VmRSS", memory.sum_rss_kb),
        ("sum of its processes, Pss", memory.sum_pss_kb),
    ):
        verdict = "met" if kb * 1024 <= TARGET_MB * 1e6 else "MISSED"
        print(f"{label:<40}{mb(kb):>12}  {verdict}")
    print(f"job duration: {wall_s:.1f} s (POST -> succeeded); loadavg at the end: {harness.loadavg()}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
