"""Migration benchmark: how long 0016's rebuild of web_result takes per million results, and its sizes.

Migration 0016 copies every stored result into a new table keyed by
(job_id, idx), as the release phase runs it once on upgrade. This drops and
re-creates the database `sentimeter_bench_migrate` (left behind), migrates it
to 0015, stores --rows results (~80-word generated reviews, with a row's
cells, as bench_storage.py's job stores them) spread over --jobs jobs with
COPY, then --runs times: `manage.py migrate web 0016` (forward) and
`manage.py migrate web 0015` (back), each timed as a whole process, less
the median time of 3 `migrate` runs with nothing to apply (Django's start-up). Prints
the medians, scaled to a million results, and web_result's total size at
0015 and at 0016.

Run it from the project root:

    flock /tmp/sentimeter-bench.lock .venv/bin/python tests/benchmarks/bench_migrate_results.py [--rows N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import harness
import psycopg
from bench_analyzer import review_texts

DB_NAME = "sentimeter_bench_migrate"
DATABASE_URL = harness.database_url(DB_NAME)
BEFORE = "0015_job_and_skip_message_templates"
AFTER = "0016_result_composite_pk"
# Distinct texts generated; rows cycle through them (their bytes, not their variety, matter here).
TEXTS = 5000
MIB = 1024 * 1024


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="results stored (default 1,000,000)")
    parser.add_argument("--jobs", type=int, default=20, help="jobs they belong to (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="forward and back migrations timed (default 3)")
    args = parser.parse_args(argv)
    if args.rows < args.jobs or args.jobs < 1 or args.runs < 1:
        parser.error("--rows must be >= --jobs >= 1, --runs >= 1")
    return args


def results_store(conn: psycopg.Connection, *, rows: int, jobs: int) -> None:
    """COPY `rows` results of `jobs` jobs (no web_job rows: web_result has no foreign key constraint)."""
    texts = review_texts(TEXTS, 80)
    per_job = rows // jobs
    with (
        conn.cursor() as cursor,
        cursor.copy(
            "COPY web_result (job_id, idx, row, text, cells, label, compound, pos, neu, neg) FROM STDIN"
        ) as copy,
    ):
        for j in range(jobs):
            job_id = uuid.uuid4()
            count = per_job if j < jobs - 1 else rows - per_job * (jobs - 1)
            for i in range(count):
                copy.write_row(
                    (job_id, i, i + 2, texts[i % TEXTS], f'["{i}", null]', "positive", 0.5, 0.1, 0.7, 0.2)
                )
    conn.execute("VACUUM ANALYZE web_result")


def result_bytes(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_total_relation_size('web_result')").fetchone()[0]


def timed_migrate(env: dict[str, str], log_dir: Path, target: str) -> float:
    """Seconds `manage.py migrate web <target>` takes, start-up included."""
    log_path = log_dir / f"migrate-{target}.log"
    began = time.perf_counter()
    with log_path.open("ab") as log:
        code = subprocess.call(  # noqa: S603 - the project's own manage.py
            [str(harness.VENV_BIN / "python"), "manage.py", "migrate", "--noinput", "web", target],
            cwd=harness.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        raise harness.BenchError(
            f"migrate web {target} failed ({code}):\n{log_path.read_text(errors='replace')}"
        )
    return time.perf_counter() - began


def bench(args: argparse.Namespace) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="sentimeter-migrate-"))
    env = harness.app_env(harness.free_port(), database_url=DATABASE_URL, redis_url=harness.REDIS_SERVER_URL)
    print("Sentimeter migration benchmark (0016: web_result rebuilt keyed by (job_id, idx))")
    print(harness.machine_line())
    print(f"parameters: rows={args.rows:,} jobs={args.jobs} runs={args.runs}   database: {DATABASE_URL}")
    harness.database_recreate(DB_NAME)
    timed_migrate(env, log_dir, BEFORE)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        began = time.perf_counter()
        results_store(conn, rows=args.rows, jobs=args.jobs)
        print(f"stored {args.rows:,} results in {time.perf_counter() - began:.0f} s")
        before = result_bytes(conn)
        startup = statistics.median(timed_migrate(env, log_dir, BEFORE) for _ in range(3))  # nothing to apply
        forward, back = [], []
        for run in range(args.runs):
            forward.append(timed_migrate(env, log_dir, AFTER) - startup)
            after = result_bytes(conn)
            if run < args.runs - 1:
                back.append(timed_migrate(env, log_dir, BEFORE) - startup)
            print(
                f"run {run + 1}: forward {forward[-1]:.1f} s" + (f", back {back[-1]:.1f} s" if back else "")
            )
    scale = 1_000_000 / args.rows
    print(f"\nmigrate's start-up (nothing to apply, median of 3): {startup:.1f} s, taken off each figure")
    print(
        f"forward (0015 -> 0016), median of {len(forward)}: {statistics.median(forward):.1f} s "
        f"({statistics.median(forward) * scale:.1f} s per million results; spread "
        f"{min(forward):.1f}-{max(forward):.1f} s)"
    )
    if back:
        print(
            f"back (0016 -> 0015), median of {len(back)}: {statistics.median(back) * scale:.1f} s per million"
        )
    print(
        f"web_result: {before / MIB:.1f} MiB at 0015 ({before / args.rows:.0f} B a result), "
        f"{after / MIB:.1f} MiB at 0016 ({after / args.rows:.0f} B a result)"
    )
    print(f"loadavg at the end: {harness.loadavg()}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
