"""Storage benchmark: the Postgres bytes a big upload takes while its job runs and after it ends.

Runs the real app as in production (DEBUG off): the Procfile's `web:` line and
--workers copies of its `worker:` line, against PostgreSQL and Redis. It
uploads one CSV of generated reviews (~80 words each, bench_analyzer.py's
generator; --bytes, default 50 MiB less 64 KiB) and measures, with
`pg_total_relation_size` (table, TOAST and indexes) over the app's job tables
(web_job, web_jobinput, web_jobchunk, web_result), less their size before
the upload:

- just after the POST (the stored upload);
- while the job runs: sampled every --sample-interval s, the largest;
- once it has succeeded, as Postgres leaves it (space freed by the app is
  dead tuples until VACUUM);
- after a plain `VACUUM` of those tables (what autovacuum gets to; freed
  pages at a table's end are given back, the rest is reused by later jobs).

Each figure is printed in bytes, per uploaded MiB, and as a multiple of the
upload's bytes (target after the job ends: <= 1.5x), and web_result's heap,
TOAST and each index in bytes per result. By default the job's results go
into an empty table; with --neighbour-rows N, N results of another job whose
id sorts after it are stored first (and counted in the "before" size), so
the job's keys go into the middle of web_result's indexes, as they do where
another job with a later id stores at the same time (or, with random ids,
in any database that holds other jobs). With --neighbour-before that job's
id sorts before the measured one's, as an earlier job's does with the
time-ordered ids jobs get (web.models.job_id_new). Then how many such
finished jobs fit each Heroku Postgres plan's storage.

Then, to decide where a result's text lives (--reads, default 5 rounds;
`--reads 0` skips it), the median time of what the pages and the API read,
with the text in `web_result` (today) and read back from the stored upload
instead (the job's texts are parsed from its compressed blocks with the
worker's own reader; a stored upload has no index of rows, so any read of
texts by row starts at a block, and a search or a download reads all of it):

- a page of 50 by score (`sort=-compound`) and a search (`q=`, count and
  first page of 50) in SQL as web/selectors.py runs them;
- the download, all results in batches of 2,000 by `idx`, in SQL;
- the whole upload inflated and parsed (what a search or download of texts
  kept only in the upload would cost at least), and one block of it (what
  each row of a page would cost at least, with an index of rows by block).

Run it from the project root:

    .venv/bin/python tests/benchmarks/bench_storage.py [--bytes 52363264] [--workers 2]

The database `sentimeter_bench_storage` is dropped and re-created (left
behind for inspection); Redis database 8 (--redis-url) is flushed. Exits 0
once measured, even if the target is missed; 1 if something broke.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import harness
import psycopg
from bench_upload import DEFAULT_LIMIT, csv_of_size
from harness import Process

sys.path.insert(0, str(harness.ROOT))  # `worker` is imported from the project root
from worker.inputs import InputSpec, iter_rows  # noqa: E402

DB_NAME = "sentimeter_bench_storage"
DATABASE_URL = harness.database_url(DB_NAME)
REDIS_URL = f"{harness.REDIS_SERVER_URL}/8"
TABLES = ("web_job", "web_jobinput", "web_jobchunk", "web_result")
TARGET_RATIO = 1.5
# --neighbour-rows's job: its id sorts after every job id (random or time-ordered), or
# with --neighbour-before, before every one.
NEIGHBOUR_AFTER = "ffffffff-ffff-7fff-bfff-ffffffffffff"
NEIGHBOUR_BEFORE = "00000000-0000-7000-8000-000000000000"
# worker/storedinput.py's blocks (not imported: the script also measures releases without them).
BLOCK_BYTES = 1024 * 1024
MIB = 1024 * 1024
# Storage of Heroku Postgres plans (devcenter.heroku.com/articles/heroku-postgres-plans).
PLANS = {
    "essential-0": 1,
    "essential-1": 10,
    "essential-2": 32,
    "standard-0": 64,
    "standard-2": 256,
}
GB = 1000**3


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bytes",
        type=int,
        default=DEFAULT_LIMIT - 64 * 1024,
        help=f"CSV size, at most (default {DEFAULT_LIMIT - 64 * 1024}: 50 MiB less 64 KiB)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--sample-interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds the job may take")
    parser.add_argument("--seed", type=int, default=42, help="text generator seed (default 42)")
    parser.add_argument("--reads", type=int, default=5, help="rounds of the text reads (default 5; 0: skip)")
    parser.add_argument("--query", default="blender", help="the search's word (default blender)")
    parser.add_argument("--redis-url", default=REDIS_URL, help=f"Redis database to flush ({REDIS_URL})")
    parser.add_argument(
        "--neighbour-rows",
        type=int,
        default=0,
        help="results of another job, stored first, whose id sorts after the measured job's "
        "(default 0: the job's results go into an empty table)",
    )
    parser.add_argument(
        "--neighbour-before",
        action="store_true",
        help="the --neighbour-rows job's id sorts before the measured job's "
        "(an earlier job's, with time-ordered ids)",
    )
    args = parser.parse_args(argv)
    if args.bytes < 1000 or args.workers < 1 or args.sample_interval <= 0 or args.neighbour_rows < 0:
        parser.error("--bytes must be >= 1000, --workers >= 1, --sample-interval > 0, --neighbour-rows >= 0")
    return args


def sizes(conn: psycopg.Connection) -> dict[str, int]:
    """pg_total_relation_size of each job table (heap, TOAST and indexes)."""
    rows = conn.execute(
        "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
        [list(TABLES)],
    ).fetchall()
    return {name: size for name, size in rows}


def result_parts(conn: psycopg.Connection) -> dict[str, int]:
    """pg_relation_size of web_result's heap, its TOAST table and each of its indexes."""
    rows = conn.execute(
        "SELECT 'heap', pg_relation_size('web_result') "
        "UNION ALL SELECT 'toast', pg_total_relation_size(reltoastrelid) FROM pg_class "
        "WHERE relname = 'web_result' AND reltoastrelid <> 0 "
        "UNION ALL SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
        "WHERE indrelid = 'web_result'::regclass"
    ).fetchall()
    return {name: size for name, size in rows}


def neighbour_store(conn: psycopg.Connection, rows: int, *, before: bool) -> None:
    """Store `rows` results of a job whose id sorts after any other, or `before` any (no web_job row needed).

    Sorting after, the measured job's results go into the middle of
    web_result's (job_id, idx) indexes, not at their right end, where
    Postgres splits full pages differently; sorting before, at the end still.
    """
    job_id = NEIGHBOUR_BEFORE if before else NEIGHBOUR_AFTER
    with (
        conn.cursor() as cursor,
        cursor.copy(
            "COPY web_result (job_id, idx, row, text, cells, label, compound, pos, neu, neg) FROM STDIN"
        ) as copy,
    ):
        for i in range(rows):
            copy.write_row((job_id, i, i + 2, f"review {i}", f'["{i}", null]', "neutral", 0.0, 0, 1, 0))
    conn.execute("VACUUM ANALYZE web_result")


def line(label: str, measured: dict[str, int], base: dict[str, int], upload: int) -> int:
    """Print one row of figures (less the empty tables' size); return the total."""
    grown = {t: measured[t] - base[t] for t in TABLES}
    total = sum(grown.values())
    tables = "  ".join(f"{t.removeprefix('web_')} {grown[t] / MIB:7.1f}" for t in TABLES)
    print(
        f"{label:<28}{total / MIB:9.1f} MiB{total / (upload / MIB) / MIB:8.2f} MiB/MiB"
        f"{total / upload:7.2f}x   ({tables} MiB)",
        flush=True,
    )
    return total


def timed(work, rounds: int) -> float:
    """Median seconds of `rounds` runs of work()."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def text_reads(conn: psycopg.Connection, job_id: str, data: bytes, args: argparse.Namespace) -> None:
    """Time what the pages and the API read: texts from web_result, and from the upload instead."""
    like = f"%{args.query}%"

    def page() -> None:
        conn.execute(
            "SELECT idx, text, label, compound FROM web_result WHERE job_id = %s "
            "ORDER BY compound DESC, idx LIMIT 50",
            [job_id],
        ).fetchall()

    def search() -> None:
        conn.execute("SELECT count(*) FROM web_result WHERE job_id = %s AND text ILIKE %s", [job_id, like])
        conn.execute(
            "SELECT idx, text, label, compound FROM web_result WHERE job_id = %s AND text ILIKE %s "
            "ORDER BY idx LIMIT 50",
            [job_id, like],
        ).fetchall()

    def download() -> None:
        last = -1
        while True:
            rows = conn.execute(
                "SELECT idx, text, label, compound, pos, neu, neg FROM web_result "
                "WHERE job_id = %s AND idx > %s ORDER BY idx LIMIT 2000",
                [job_id, last],
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]

    spec = InputSpec(format="csv", encoding="utf-8", column="review", column_index=1)
    blocks = [zlib.compress(data[i : i + BLOCK_BYTES], 1) for i in range(0, len(data), BLOCK_BYTES)]

    def upload_parse() -> None:
        stream = io.BytesIO(b"".join(zlib.decompress(block) for block in blocks))
        for _ in iter_rows(stream, spec, max_chars=10**6):
            pass

    def block_parse() -> None:
        # A middle block, from its first whole line: what reading any one row of it costs at least.
        raw = zlib.decompress(blocks[len(blocks) // 2])
        stream = io.BytesIO(b"id,review\n" + raw[raw.index(b"\n") + 1 : raw.rindex(b"\n") + 1])
        for _ in iter_rows(stream, spec, max_chars=10**6):
            pass

    rounds = args.reads
    print(f"\ntext reads, median of {rounds} (s)          text in web_result   text from the upload")
    page_s, block_s = timed(page, rounds), timed(block_parse, rounds)
    print(f"{'page of 50 by score':<40}{page_s:>13.4f}   >= {block_s:.4f} per block touched (<= 50)")
    upload_s = timed(upload_parse, rounds)
    search_label = f"search {args.query!r} (count, first 50)"
    print(f"{search_label:<40}{timed(search, rounds):>13.4f}   >= {upload_s:.4f}")
    print(f"{'download (all, batches of 2,000)':<40}{timed(download, rounds):>13.4f}   >= {upload_s:.4f}")


def bench(args: argparse.Namespace) -> None:
    commands = harness.procfile_commands()
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    overrides = {"MAX_ACTIVE_JOBS_PER_SESSION": "100000", "MAX_QUEUE_DEPTH": "100000"}
    env = harness.app_env(
        port, database_url=DATABASE_URL, redis_url=args.redis_url, debug=False, overrides=overrides
    )
    log_dir = Path(tempfile.mkdtemp(prefix="sentimeter-storage-"))
    print("Sentimeter storage benchmark (Postgres bytes of one big upload, during and after its job)")
    print(harness.machine_line())
    print(
        f"parameters: bytes<={args.bytes:,} workers={args.workers} sample every {args.sample_interval:g} s"
        f" neighbour rows={args.neighbour_rows:,}"
        f"{' (id sorting before)' if args.neighbour_before and args.neighbour_rows else ''}"
    )
    print(f"database: {DATABASE_URL}   redis: {args.redis_url}   logs: {log_dir}", flush=True)

    data, rows = csv_of_size(args.bytes, seed=args.seed)
    fields = {"column": "review", "analyzer": "vader"}
    body, content_type = harness.multipart_body("reviews.csv", data, fields)
    upload = len(data)
    print(f"input: {rows:,} rows, CSV {upload:,} bytes ({upload / MIB:.2f} MiB)")

    harness.database_recreate(DB_NAME)
    harness.migrate(env, log_dir)
    harness.redis_flush(args.redis_url)
    processes: list[Process] = []
    peak: dict[str, int] = {}
    peak_at = ""
    try:
        _, workers = harness.start_app(
            commands, env=env, log_dir=log_dir, base_url=base_url, workers=args.workers, processes=processes
        )
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            if args.neighbour_rows:
                neighbour_store(conn, args.neighbour_rows, before=args.neighbour_before)
            base = sizes(conn)
            base_parts = result_parts(conn)
            session, csrf = harness.session_open(base_url)
            with session:
                t0 = time.perf_counter()
                response, _ = harness.upload_post(session, base_url, csrf, body, content_type)
                stored = sizes(conn)

                def sample(polls: list[harness.Poll]) -> None:
                    nonlocal peak, peak_at
                    now = sizes(conn)
                    if sum(now.values()) > sum(peak.values()):
                        poll = polls[-1]
                        peak, peak_at = now, f"{poll.done:,}/{poll.total or '?'} done at {poll.seconds:.0f} s"

                job, polls = harness.job_wait(
                    session,
                    harness.job_url(base_url, response),
                    t0=t0,
                    poll_interval=args.sample_interval,
                    timeout=args.timeout,
                    processes=processes,
                    every=sample,
                )
            ended = sizes(conn)
            conn.execute(f"VACUUM {', '.join(TABLES)}")
            vacuumed = sizes(conn)
            vacuumed_parts = result_parts(conn)
    finally:
        harness.shutdown(
            processes, redis_url=args.redis_url, log_dir=log_dir, what=f"web and {args.workers} worker(s)"
        )
    print(f"job {job['id']}: {job['status']} with {polls[-1].done:,} results in {polls[-1].seconds:.0f} s\n")
    print(f"{'':<28}{'total':>13}{'per MiB':>16}{'x upload':>8}")
    line("stored upload (after POST)", stored, base, upload)
    line("largest while running", peak or stored, base, upload)
    print(f"{'':<28}(at {peak_at or 'the POST'})")
    line("succeeded, as left", ended, base, upload)
    total = line("succeeded, after VACUUM", vacuumed, base, upload)
    done = polls[-1].done
    parts = "  ".join(
        f"{name} {(size - base_parts.get(name, 0)) / done:.1f}" for name, size in vacuumed_parts.items()
    )
    print(f"{'':<28}web_result per result, bytes: {parts}")
    verdict = "met" if total <= TARGET_RATIO * upload else "MISSED"
    print(f"\nended, after VACUUM: {total / upload:.2f}x the upload (target <= {TARGET_RATIO}x: {verdict})")
    print(f"\n{'Heroku Postgres plan':<22}{'storage':>9}{'finished jobs of this upload':>32}")
    for plan, gb in PLANS.items():
        print(f"{plan:<22}{gb:>6} GB{gb * GB // total:>32,}")
    if args.reads:
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            text_reads(conn, job["id"], data, args)
    print(f"loadavg at the end: {harness.loadavg()}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
