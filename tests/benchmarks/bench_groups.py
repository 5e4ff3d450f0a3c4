"""Groups and trends benchmark: their queries and the job page on a job of 1,000,000 results.

Fills a fresh PostgreSQL database with one succeeded job of --rows results
(default 1,000,000) whose cells are `id, store, stars, date, review,
country`: 20 stores, 1-5 stars, 8 countries, ISO date-times over two years
(each row its own second, so about as many distinct values as rows) and a
short review. The rows go in with one binary COPY (tests/builders.py).

First, what the index on (job_id, compound) that the page's sort by score
uses costs the results' COPY: --index-rounds rounds (default 3) of
--index-rows (default 200,000) with it and without it, alternating.

Then, each timed --runs times (default 5) and printed as the median (and
the slowest):

- the two ways issue 13 names of answering GET /groups/ and /trend/:
  aggregating the results' cells when asked (`live`: the JSON expression
  `cells->>i` over the job's rows; once more with an expression index on
  `(job_id, (cells->>1))`), and reading the counts `breakdowns_store`
  wrote when the job ended (`stored`); and what writing those costs (run
  --store-runs times, default 3), once per job;
- the job page, server side (the Django handler in this process, from
  request to rendered bytes): plain, grouped by store, filtered to a
  group, to a label, sorted by score, the last page, the trend by month,
  and searched for a frequent word (1 text in 8), a rare one (1 in
  50,000), one in no text, a Korean one, further from the middle and
  sorted by score; with the number of queries each made and the slowest
  of them. A search reads the job's texts for the page's
  SEARCH_SECONDS and says how far it got: the "searched" column.

Run it from the project root:

    flock /tmp/sentimeter-bench.lock .venv/bin/python tests/benchmarks/bench_groups.py \\
        [--rows 1000000] [--runs 5]

The database `sentimeter_bench_groups` (or --database) is dropped and
re-created (left behind for inspection); REDIS_URL (default: Redis database 9) is only
connected to, never written. Exits 0 once measured, even if a target is
missed; 1 if something broke.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import harness

DB_NAME = "sentimeter_bench_groups"
COLUMNS = ["id", "store", "stars", "date", "review", "country"]
STORES = [f"Store {i:02d}" for i in range(20)]
COUNTRIES = ["KR", "US", "JP", "DE", "FR", "GB", "BR", "IN"]
REVIEWS = [
    "Great value, would buy again.",
    "Arrived late and the box was crushed.",
    "It works.",
    "Terrible support, never again.",
    "Love it!",
    "Not bad, not great.",
    "배송이 빨라서 좋아요.",
    "The worst purchase I have made this year.",
]
# One text in RARE_EVERY says RARE_TEXT: a word a search finds a few of in a million.
RARE_EVERY = 50_000
RARE_TEXT = "A rare gem of a shop."
# 2025-01-01 00:00 UTC: the dates span two years from there.
EPOCH = 1735689600
TWO_YEARS = 2 * 365 * 86400
# Targets (issue 13, "Speed and size").
QUERY_TARGET_S = 1.0
PAGE_TARGET_S = 0.3


def _score(i: int) -> float:
    """A score in [-1, 1] that leans negative for some stores (so groups differ), deterministic."""
    x = ((i * 2654435761) % 2001) / 1000.0 - 1.0
    return round(max(-1.0, min(1.0, x - 0.02 * (i % 20) + 0.2)), 4)


def _text(i: int) -> str:
    return RARE_TEXT if i % RARE_EVERY == RARE_EVERY - 1 else REVIEWS[i % len(REVIEWS)]


def _cells(i: int) -> list[str | None]:
    seconds = EPOCH + (i * 7919) % TWO_YEARS
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    return [f"R-{i}", STORES[i % 20], str(1 + i % 5), day, None, COUNTRIES[i % 8]]


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def line(name: str, times: list[float], target: float | None = None) -> str:
    med = statistics.median(times)
    verdict = "" if target is None else ("  ok" if med <= target else f"  OVER {target:g} s")
    return f"  {name:<52} median {med * 1000:8.1f} ms  max {max(times) * 1000:8.1f} ms{verdict}"


def bench(args: argparse.Namespace) -> None:
    # As in production (DEBUG off), in this process: Django's test client is the browser.
    harness.django_here(
        args.database,
        redis_url=args.redis_url,
        log_dir=Path(args.log_dir),
        overrides={"ALLOWED_HOSTS": "testserver"},
    )
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # The page's static URLs without collectstatic's manifest (the tests do the same).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from tests.builders import make_job, owner_session, results_copy_table
    from web.models import ColumnStats, Job
    from worker.breakdowns import breakdowns_store, groups_of, trend_of
    from worker.summary import summary_compute

    print(harness.machine_line())
    print(f"shared machine, load average {harness.loadavg()}; compare ratios, not absolute times")
    rows = args.rows
    client = Client()
    client.get("/")
    session_key = owner_session(client)
    job = make_job(
        texts=["x"],
        columns=COLUMNS,
        text_column="review",
        status=Job.Status.RUNNING,
        session_key=session_key,
        title="bench",
    )
    # What the index for the page's sort by score costs the results' COPY: rounds of
    # --index-rows into a scratch job with it and without it, alternating.
    with_index, without_index = [], []
    for round_ in range(args.index_rounds * 2):
        indexed = round_ % 2 == 0
        if not indexed:
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX result_job_compound")
        scratch = make_job(texts=["x"], columns=COLUMNS, text_column="review", status=Job.Status.RUNNING)
        begin = time.perf_counter()
        with transaction.atomic():
            results_copy_table(
                scratch, n=args.index_rows, cells=_cells, text=lambda i: REVIEWS[i % 8], compound=_score
            )
        (with_index if indexed else without_index).append(time.perf_counter() - begin)
        scratch.delete()
        if not indexed:
            with connection.cursor() as cursor:
                cursor.execute("CREATE INDEX result_job_compound ON web_result (job_id, compound)")
    print(
        f"COPY of {args.index_rows:,} results with cells, {args.index_rounds} rounds each: "
        f"median {statistics.median(with_index):.2f} s with the (job, compound) index, "
        f"{statistics.median(without_index):.2f} s without "
        f"({statistics.median(with_index) / statistics.median(without_index):.2f}x)"
    )
    start = time.perf_counter()
    results_copy_table(job, n=rows, cells=_cells, text=_text, compound=_score)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE web_result")
    print(f"inserted {rows:,} results with COPY in {time.perf_counter() - start:.1f} s")
    Job.objects.filter(pk=job.pk).update(summary=summary_compute(job.pk), status=Job.Status.SUCCEEDED)
    job.refresh_from_db()

    print(f"\ngroups and trend, {args.runs} runs each (target: median <= {QUERY_TARGET_S:g} s)")
    # Live: no stored counts yet, so each call aggregates the results.
    live_groups = timed(lambda: groups_of(job, "store"), args.runs)
    print(line("groups by store, live (cells->>1)", live_groups, QUERY_TARGET_S))
    live_trend = timed(lambda: trend_of(job, "date"), args.runs)
    print(line("trend by date, live (left(cells->>3, 10))", live_trend, QUERY_TARGET_S))
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX bench_cells_store ON web_result (job_id, (cells->>1))")
        cursor.execute("CREATE INDEX bench_cells_date ON web_result (job_id, left(cells->>3, 10))")
        cursor.execute("ANALYZE web_result")
    print(line("groups by store, live, expression index", timed(lambda: groups_of(job, "store"), args.runs)))
    print(line("trend by date, live, expression index", timed(lambda: trend_of(job, "date"), args.runs)))
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX bench_cells_store")
        cursor.execute("DROP INDEX bench_cells_date")
    store = timed(lambda: breakdowns_store(job.pk), args.store_runs)
    print(line(f"breakdowns_store at the job's end ({args.store_runs} runs)", store))
    kinds = sorted(ColumnStats.objects.filter(job=job).values_list("position", "kind"))
    print(f"    stored: {kinds} (positions in {COLUMNS})")
    print(line("groups by store, stored", timed(lambda: groups_of(job, "store"), args.runs), QUERY_TARGET_S))
    print(line("trend by date, stored", timed(lambda: trend_of(job, "date"), args.runs), QUERY_TARGET_S))
    print(line("trend by date per month, stored", timed(lambda: trend_of(job, "date", "month"), args.runs)))

    print(
        f"\nthe job page, server time, {args.runs} runs each (target: median <= {PAGE_TARGET_S * 1000:g} ms)"
    )
    Job.objects.filter(pk=job.pk).update(group_by="store")
    last_page = -(-rows // 50)
    pages = [
        ("plain (grouped by store, trend by day)", ""),
        (f"last page ({last_page:,}, by idx)", f"?page={last_page}"),
        ("group Store 07", "?group=Store+07"),
        ("group Store 07, page 20 (the last reached)", "?group=Store+07&page=20"),
        ("group Store 07, negative", "?group=Store+07&label=negative"),
        ("label negative", "?label=negative"),
        ("label negative, page 20", "?label=negative&page=20"),
        ("most negative first", "?sort=compound"),
        ("most positive first", "?sort=-compound"),
        ("most positive first, page 20", "?sort=-compound&page=20"),
        ("search 'crushed' (1 in 8)", "?q=crushed"),
        ("search 'crushed', page 20", "?q=crushed&page=20"),
        ("search '배송' (1 in 8, Korean)", "?q=%EB%B0%B0%EC%86%A1"),
        (f"search 'gem' (1 in {RARE_EVERY:,})", "?q=gem"),
        ("search 'zzz' (none)", "?q=zzz"),
        (f"search 'zzz' further, from {rows // 2:,}", f"?q=zzz&from={rows // 2}"),
        ("search 'crushed', most negative first", "?q=crushed&sort=compound"),
        ("trend by month", "?trend=date&bucket=month"),
    ]
    for name, query in pages:
        url = f"/jobs/{job.pk}/{query}"
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        # Copied now: the next request empties the connection's log.
        captured = list(queries.captured_queries)
        slowest = max(captured, key=lambda q: float(q["time"]))
        times = timed(lambda url=url: client.get(url), args.runs)
        print(line(name, times, PAGE_TARGET_S))
        scope = re.search(r'id="search-scope"[^>]*>([^<]*)', response.content.decode())
        if scope:
            print(f"    {scope.group(1).strip()}")
        print(
            f"    {len(captured)} queries; slowest {float(slowest['time']) * 1000:.1f} ms: "
            f"{slowest['sql'][:150]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default=DB_NAME)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store-runs", type=int, default=3)
    parser.add_argument("--index-rows", type=int, default=200_000)
    parser.add_argument("--index-rounds", type=int, default=3)
    parser.add_argument("--redis-url", default=f"{harness.REDIS_SERVER_URL}/9")
    parser.add_argument("--log-dir", default="/tmp")  # noqa: S108 - migrate's log, for a failure
    args = parser.parse_args()
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
