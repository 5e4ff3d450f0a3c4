"""Excel benchmark: a ~50 MB workbook converted in a real worker, and a 1,000,000-row .xlsx download.

Runs the real app as in production (DEBUG off): the Procfile's `web:`
(gunicorn) and ONE `worker:` line, against PostgreSQL and Redis.

Run it from the project root (a run takes a few minutes; the workbook is built once):

    flock /tmp/sentimeter-bench.lock .venv/bin/python tests/benchmarks/bench_xlsx.py [--runs 3]

What it does:

- builds a workbook of --target-mb MB (default 50) with openpyxl's write-only
  mode: columns id, date (a date-time), product, stars and review (about
  --words words of review text); openpyxl writes texts inline, while Excel
  keeps them in the shared string table, so by default (--strings shared) the
  texts are moved there as Excel would save them: the path that matters, since
  openpyxl loads that table whole (worker/workbooks.py spills it to disk);
- per run: drops and re-creates the database `sentimeter_bench_xlsx`, flushes
  Redis database 4, starts web and one worker; reads the worker's idle RSS
  (biggest process, and the sum of its processes); uploads the workbook over
  HTTP and times the POST (the web process checks it up to its header row);
  samples the worker's memory every --interval s until the split after the
  conversion is logged, then cancels the job (analysing it is
  bench_memory.py's business); reads the conversion time from the worker's log;
- then gives that (canceled, so downloadable) job --download-rows results,
  written with COPY, and times GET results.xlsx while sampling the web
  processes' memory: the download's time, first byte and size, and the web's
  VmRSS just before it and its sampled peak during it (not VmHWM: the
  process that took the upload keeps that peak).

Targets: worker peak RSS <= 150 MB over its idle RSS; the submit far under
Heroku's 30 s. Prints medians and the spread over --runs runs. The machine
is shared: the load average is printed; compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import re
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import harness
import psycopg
from bench_analyzer import review_text
from harness import Process

DB_NAME = "sentimeter_bench_xlsx"
DATABASE_URL = harness.database_url(DB_NAME)
REDIS_URL = f"{harness.REDIS_SERVER_URL}/4"  # --redis-url to use another
TARGET_OVER_IDLE_MB = 150  # MB = 10**6 bytes
PRODUCTS = [f"{kind} {n}" for kind in ("Kettle", "Lamp", "Chair", "Desk", "Blender") for n in range(1, 9)]
CONVERTED = re.compile(r"workbook converted: .* in ([\d.]+) s")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target-mb", type=float, default=50.0, help="workbook size, MB (default 50)")
    parser.add_argument("--words", type=int, default=80, help="words per review (default 80)")
    parser.add_argument("--strings", choices=("shared", "inline"), default="shared")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--download-rows", type=int, default=1_000_000)
    parser.add_argument("--interval", type=float, default=0.1, help="memory sampling, s")
    parser.add_argument("--timeout", type=float, default=1200.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--redis-url", default=REDIS_URL, help=f"a Redis database of its own ({REDIS_URL})")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE app setting")
    args = parser.parse_args(argv)
    args.env = harness.parse_env(args.env)
    return args


def workbook_build(path: Path, *, target_mb: float, words: int, seed: int, shared: bool) -> int:
    """Write a workbook of about target_mb MB of reviews to path; return its row count."""
    from openpyxl import Workbook

    rng = random.Random(seed)  # noqa: S311 - test data
    # Rows per MB, from a sample: the deflated size grows with the rows.
    sample = Workbook(write_only=True)
    sheet = sample.create_sheet("Reviews")
    for i in range(5000):
        sheet.append(_row(i, rng, words))
    buffer = io.BytesIO()
    sample.save(buffer)
    rows = int(5000 * target_mb * 1e6 / len(buffer.getvalue()))
    rng = random.Random(seed)  # noqa: S311 - test data
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Reviews")
    sheet.append(["id", "date", "product", "stars", "review"])
    for i in range(rows):
        sheet.append(_row(i, rng, words))
    inline = path.with_suffix(".inline.xlsx")
    book.save(inline)
    if shared:
        _strings_share(inline, path)
        inline.unlink()
    else:
        inline.rename(path)
    return rows


def _row(i: int, rng: random.Random, words: int) -> list:
    when = dt.datetime(2025, 1, 1) + dt.timedelta(minutes=7 * i)
    return [i + 1, when, PRODUCTS[i % len(PRODUCTS)], 1 + rng.randrange(5), review_text(rng, words)]


_INLINE = re.compile(
    rb'<c r="([A-Z]+\d+)" t="inlineStr"><is><t(?: xml:space="preserve")?>(.*?)</t></is></c>', re.S
)


def _strings_share(source: Path, target: Path) -> None:
    """Move a workbook's inline strings into a shared string table, as Excel saves them."""
    index: dict[bytes, int] = {}
    strings = tempfile.TemporaryFile()

    def shared(match: re.Match) -> bytes:
        text = match.group(2)
        at = index.get(text)
        if at is None:
            at = index[text] = len(index)
            space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
            strings.write(b"<si><t%s>%s</t></si>" % (space.encode(), text))
        return b'<c r="%s" t="s"><v>%d</v></c>' % (match.group(1), at)

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = None if item.filename == "xl/worksheets/sheet1.xml" else old.read(item.filename)
            if item.filename == "[Content_Types].xml":
                override = (
                    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
                )
                data = data.replace(b"</Types>", override.encode())
            elif item.filename == "xl/_rels/workbook.xml.rels":
                rel = (
                    '<Relationship Id="rIdStrings" Target="sharedStrings.xml" Type="http://schemas.'
                    'openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/></Relationships>'
                )
                data = data.replace(b"</Relationships>", rel.encode())
            if data is not None:
                new.writestr(item, data)
                continue
            with old.open(item) as src, new.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as dst:
                rest = b""
                while block := src.read(4 * 1024 * 1024):
                    rest += block
                    cut = rest.rfind(b"</row>") + len(b"</row>")
                    if cut < len(b"</row>"):
                        continue
                    dst.write(_INLINE.sub(shared, rest[:cut]))
                    rest = rest[cut:]
                dst.write(_INLINE.sub(shared, rest))
        head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://schemas.openxmlformats.org/'
        head += f'spreadsheetml/2006/main" count="{len(index)}" uniqueCount="{len(index)}">'
        strings.seek(0)
        with new.open("xl/sharedStrings.xml", "w", force_zip64=True) as dst:
            dst.write(head.encode())
            while block := strings.read(4 * 1024 * 1024):
                dst.write(block)
            dst.write(b"</sst>")
    strings.close()


def results_fill(job_id: str, rows: int) -> None:
    """Give a job `rows` results (COPY), as a finished job of that size has."""
    with psycopg.connect(DATABASE_URL) as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM web_result WHERE job_id = %s", [job_id])
        with cursor.copy(
            "COPY web_result (job_id, idx, text, label, compound, pos, neu, neg) FROM STDIN"
        ) as copy:
            rng = random.Random(7)  # noqa: S311 - test data
            for i in range(rows):
                compound = round(rng.uniform(-1, 1), 4)
                label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
                copy.write_row((job_id, i, review_text(rng, 25), label, compound, 0.2, 0.7, 0.1))
        cursor.execute("UPDATE web_job SET done = %s, total = %s WHERE id = %s", [rows, rows, job_id])


def idle_kb(worker: Process) -> tuple[int, int]:
    """(biggest process's VmRSS, sum of its processes' Pss) of the idle worker, in kB."""
    pids = harness.process_tree(worker.pgid)
    sizes = [(harness.proc_status_kb(pid, "VmRSS") or {}).get("VmRSS", 0) for pid in pids]
    return max(sizes, default=0), sum(harness.proc_pss_kb(pid) or 0 for pid in pids)


def one_run(args: argparse.Namespace, path: Path, run: int) -> dict[str, float]:
    commands = harness.procfile_commands()
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_dir = Path(tempfile.mkdtemp(prefix="sentimeter-xlsx-"))
    size = path.stat().st_size
    overrides = {
        "MAX_UPLOAD_BYTES": str(max(50 * 1024 * 1024, 2 * size)),
        "MAX_ACTIVE_JOBS_PER_SESSION": "1000",
        # Uploading 50 MB on a busy machine may pass gunicorn's 20 s (bench_upload.py's business).
        "GUNICORN_TIMEOUT": "600",
        **args.env,
    }
    env = harness.app_env(
        port, database_url=DATABASE_URL, redis_url=args.redis_url, debug=False, overrides=overrides
    )
    harness.database_recreate(DB_NAME)
    harness.migrate(env, log_dir)
    harness.redis_flush(args.redis_url)
    body, content_type = harness.multipart_body("reviews.xlsx", path.read_bytes(), {})
    processes: list[Process] = []
    figures: dict[str, float] = {}
    try:
        web, (worker,) = harness.start_app(
            commands, env=env, log_dir=log_dir, base_url=base_url, workers=1, processes=processes
        )
        time.sleep(2)
        idle_single, idle_sum = idle_kb(worker)
        session, csrf = harness.session_open(base_url)
        with session, harness.RssSampler([worker.pgid], interval=args.interval) as memory:
            response, post_s = harness.upload_post(session, base_url, csrf, body, content_type, timeout=300)
            job_url = harness.job_url(base_url, response)
            started = time.perf_counter()
            while not harness.SPLIT_LINE.search(worker.log_text()):
                worker.check_alive()
                job = session.get(job_url, timeout=30).json()
                if job["status"] not in ("queued", "running"):
                    raise harness.BenchError(f"job ended {job['status']}: {job.get('error')}")
                if time.perf_counter() - started > args.timeout:
                    raise harness.BenchError("no split line in the worker log in time")
                time.sleep(0.5)
            session.post(f"{job_url}cancel/", headers={"X-CSRFToken": csrf}, timeout=30)
        converted = CONVERTED.search(worker.log_text())
        if converted is None:
            raise harness.BenchError("no conversion line in the worker log")
        biggest = memory.biggest()
        peak_single = max(biggest.rss_kb, biggest.hwm_kb) if biggest else 0
        figures.update(
            submit_s=post_s,
            convert_s=float(converted.group(1)),
            idle_mb=idle_single / 1000,
            peak_mb=peak_single / 1000,
            over_idle_mb=(peak_single - idle_single) / 1000,
            # Pss: a work horse shares its parent's pages, which VmRSS would count twice.
            sum_over_idle_mb=(memory.sum_pss_kb - idle_sum) / 1000,
        )
        job_id = response.json()["id"]
        results_fill(job_id, args.download_rows)
        # The web process that took the upload keeps its peak (VmHWM): the download is judged
        # by sampled VmRSS against the web's VmRSS just before it.
        web_before, _ = idle_kb(web)
        with harness.RssSampler([web.pgid], interval=args.interval, pss=False) as web_memory:
            t0 = time.perf_counter()
            download = session.get(f"{base_url}/api/jobs/{job_id}/results.xlsx", timeout=900, stream=True)
            first_byte_s = None
            received = 0
            for block in download.iter_content(1024 * 1024):
                if first_byte_s is None:
                    first_byte_s = time.perf_counter() - t0
                received += len(block)
            download_s = time.perf_counter() - t0
        if download.status_code != 200 or download.headers.get("Content-Type") != XLSX_TYPE:
            raise harness.BenchError(f"results.xlsx answered {download.status_code}")
        figures.update(
            download_s=download_s,
            first_byte_s=first_byte_s or download_s,
            download_mb=received / 1e6,
            web_before_mb=web_before / 1000,
            web_peak_mb=max((p.rss_kb for p in web_memory.procs.values()), default=0) / 1000,
        )
    finally:
        harness.shutdown(processes, redis_url=args.redis_url, log_dir=log_dir, what="web and worker")
    print(
        f"run {run}: submit {figures['submit_s']:.2f} s, conversion {figures['convert_s']:.1f} s, "
        f"worker idle {figures['idle_mb']:.0f} MB, peak {figures['peak_mb']:.0f} MB "
        f"(+{figures['over_idle_mb']:.0f} MB; "
        f"Pss sum +{figures['sum_over_idle_mb']:.0f} MB); download {figures['download_s']:.1f} s "
        f"(first byte {figures['first_byte_s']:.1f} s, {figures['download_mb']:.0f} MB), "
        f"web {figures['web_before_mb']:.0f} MB before, peak {figures['web_peak_mb']:.0f} MB; "
        f"loadavg {harness.loadavg()}",
        flush=True,
    )
    return figures


def bench(args: argparse.Namespace) -> None:
    print("Sentimeter Excel benchmark (one worker, one workbook; one big download)")
    print(harness.machine_line())
    print(
        f"parameters: target={args.target_mb:g} MB words={args.words} strings={args.strings} "
        f"runs={args.runs} download-rows={args.download_rows:,} interval={args.interval:g} s "
        f"env={args.env or '-'}"
    )
    path = Path(tempfile.mkdtemp(prefix="sentimeter-xlsx-book-")) / "reviews.xlsx"
    t0 = time.perf_counter()
    rows = workbook_build(
        path, target_mb=args.target_mb, words=args.words, seed=args.seed, shared=args.strings == "shared"
    )
    print(
        f"workbook: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB ({args.strings} strings), "
        f"built in {time.perf_counter() - t0:.0f} s: {path}",
        flush=True,
    )
    runs = [one_run(args, path, run) for run in range(1, args.runs + 1)]
    print(f"\n--- medians of {len(runs)} runs (min-max); loadavg {harness.loadavg()}")
    for key, label in (
        ("submit_s", "web submit (POST of the workbook), s"),
        ("convert_s", "conversion to CSV in the worker, s"),
        ("idle_mb", "worker idle RSS (biggest process), MB"),
        ("peak_mb", "worker peak RSS (biggest process), MB"),
        ("over_idle_mb", "  over idle (target <= 150), MB"),
        ("sum_over_idle_mb", "worker processes' Pss sum over idle, MB"),
        ("download_s", f"results.xlsx of {args.download_rows:,} rows, s"),
        ("first_byte_s", "  its first byte, s"),
        ("download_mb", "  its size, MB"),
        ("web_before_mb", "web RSS before it (biggest process), MB"),
        ("web_peak_mb", "web peak VmRSS during it (biggest process), MB"),
    ):
        values = [r[key] for r in runs]
        print(f"{label:<48}{statistics.median(values):>10.2f}  ({min(values):.2f}-{max(values):.2f})")
    verdict = "met" if statistics.median(r["over_idle_mb"] for r in runs) <= TARGET_OVER_IDLE_MB else "MISSED"
    print(f"worker peak over idle <= {TARGET_OVER_IDLE_MB} MB: {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
