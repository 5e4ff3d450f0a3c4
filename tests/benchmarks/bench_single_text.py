"""A single text's job in the worker, in-process: its CPU, its statements, and a new connection's cost.

What a one-text job costs the worker between its claim and its success,
measured as CPU time (`time.process_time`), which a loaded machine blurs far
less than wall time (issue 15 item 5):

- `pipeline.job_process` of --jobs one-text jobs (default 200, after 5 to
  warm up): CPU and wall time a job, median of --rounds rounds (default 3);
- the statements of one such job up to the commit that shows the success;
- with --profile N, the N functions that took the most CPU (cumulative), by
  `cProfile` with a CPU clock, over one more round;
- what a new Postgres connection costs (`close_all()` then
  `ensure_connection()`, median of 30): what the worker pays before a job
  when it has closed its connection (see worker/process.py's
  CONNECTION_LINGER).

Run it from the project root:

    flock /tmp/sentimeter-bench.lock .venv/bin/python tests/benchmarks/bench_single_text.py \\
        [--jobs 200] [--rounds 3] [--profile 30]

The database `sentimeter_bench_single` is dropped and re-created (left behind
for inspection); the jobs are made directly in it (tests/builders.py), so
nothing is enqueued, and REDIS_URL (default: Redis database 9) is only
connected to, never written. Exits 0 once measured; 1 if something broke.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

import harness

DB_NAME = "sentimeter_bench_single"
TEXT = "The delivery was late and the box was crushed."
WARMUP = 5
CONNECTS = 30


def bench(args: argparse.Namespace) -> None:
    # As in production (DEBUG off: no SQL kept per query), in this process; a job's
    # INFO line aside, which would print one line a job here.
    harness.django_here(
        DB_NAME, redis_url=args.redis_url, log_dir=Path(args.log_dir), overrides={"LOG_LEVEL": "WARNING"}
    )
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    from tests.builders import make_job
    from web.models import Job
    from worker import pipeline

    def jobs(count: int) -> list:
        return [make_job(texts=[TEXT]).pk for _ in range(count)]

    for job_id in jobs(WARMUP):
        pipeline.job_process(job_id)

    (job_id,) = jobs(1)
    with CaptureQueriesContext(connection) as captured:
        pipeline.job_process(job_id)
    sql = [q["sql"] for q in captured.captured_queries]
    success = next(i for i, s in enumerate(sql) if "'succeeded'" in s)
    print(f"statements up to the commit that shows the success: {success + 2} (of {len(sql)} in all)")

    cpu, wall = [], []
    for _ in range(args.rounds):
        ids = jobs(args.jobs)
        started, clock = time.process_time(), time.perf_counter()
        for job_id in ids:
            pipeline.job_process(job_id)
        cpu.append((time.process_time() - started) / len(ids))
        wall.append((time.perf_counter() - clock) / len(ids))
        if Job.objects.filter(pk__in=ids).exclude(status=Job.Status.SUCCEEDED).exists():
            raise harness.BenchError("a one-text job did not succeed")
    print(
        f"job_process, one text: CPU {_ms(cpu)} ms a job, wall {_ms(wall)} ms "
        f"({args.rounds} rounds of {args.jobs}; median {statistics.median(cpu) * 1000:.2f} ms CPU)"
    )

    if args.profile:
        ids = jobs(args.jobs)
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for job_id in ids:
            pipeline.job_process(job_id)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print(f"CPU by function over {args.jobs} more jobs (cProfile, its own overhead included):")
        print(out.getvalue())

    connect_cpu, connect_wall = [], []
    for _ in range(CONNECTS):
        connections.close_all()
        started, clock = time.process_time(), time.perf_counter()
        connection.ensure_connection()
        connect_cpu.append(time.process_time() - started)
        connect_wall.append(time.perf_counter() - clock)
    print(
        f"a new connection: CPU median {statistics.median(connect_cpu) * 1000:.2f} ms, "
        f"wall median {statistics.median(connect_wall) * 1000:.2f} ms ({CONNECTS} connections)"
    )


def _ms(values: list[float]) -> str:
    return " / ".join(f"{v * 1000:.2f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--redis-url", default=f"{harness.REDIS_SERVER_URL}/9")
    parser.add_argument("--log-dir", default="/tmp")  # noqa: S108 - migrate's log, for a failure
    args = parser.parse_args()
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
