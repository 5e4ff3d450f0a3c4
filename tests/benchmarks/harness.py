"""Shared helpers of the benchmarks: run the real app, a fresh database, an own Redis db, a client.

Not a benchmark itself. The bench_*.py scripts beside it import it as `harness` (they are run as
scripts from the project root, `.venv/bin/python tests/benchmarks/bench_X.py`, so this directory is
on sys.path). What it gives them:

- `Process`: one Procfile line run with `sh -c` in its own session (process group), logging to a
  file, stopped cleanly: SIGTERM to the whole group, wait for all of it, then SIGKILL of whatever is
  left. `procfile_commands()` reads the lines, `wait_until_ready()` waits for web (/healthz) and the
  workers ("Listening on" in their logs);
- `app_env()`: the environment both processes get: DATABASE_URL, REDIS_URL, a free PORT, DEBUG
  (1 for the latency benchmark, 0 = production behaviour for the others), any overrides;
- `database_recreate()`, `migrate()` (and collectstatic), `redis_flush()`: a fresh PostgreSQL
  database per run (left behind for inspection, dropped again by the next run) and a Redis database
  of the benchmark's own;
- `session_open()`: a client session with the csrftoken cookie, as the page's own script has it;
  `csv_bytes()`, `multipart_body()`, `upload_post()`, `job_wait()`, `job_times()`: a file upload
  built before the clock starts, its POST, polling the job until it has succeeded;
- `rq_jobs()`: RQ's own record of each job (start, end, worker), kept an hour after it finished;
- `RssSampler`, `process_tree()`, `proc_status_kb()`, `tree_cpu_seconds()`, `machine_cpu()`:
  /proc readers for memory and CPU figures;
- `shutdown()` and `run_main()`: cleanup that a second Ctrl-C cannot cut short, and the exit codes
  (0 measured, even if a target is missed; 1 something broke; 130 interrupted).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

import psycopg
import redis
import requests
import urllib3

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"

PG_SERVER_URL = "postgres://postgres@127.0.0.1:5432"
PG_ADMIN_URL = f"{PG_SERVER_URL}/postgres"
REDIS_SERVER_URL = "redis://127.0.0.1:6379"

# Short reviews the single-text benchmarks (latency, load) submit, one per job.
SHORT_REVIEWS = (
    "Great product, works exactly as described.",
    "Terrible service, I will never order again.",
    "It arrived on time. The box was brown.",
    "Absolutely love it, best purchase this year!",
    "Not bad, but the battery life is disappointing.",
    "The food was cold and the waiter was rude.",
    "Decent value for the price, nothing special.",
    "Wonderful staff and a very clean room.",
    "Broke after two days. What a waste of money.",
    "I am happy with it, my kids enjoy it too.",
)
STARTUP_TIMEOUT = 60.0  # seconds for web and worker to come up
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL

# worker.split's "job <id>: [split into ]N chunks, M texts, K rows skipped" line, logged by the splitter.
SPLIT_LINE = re.compile(r"^.*\b\d+ chunks, \d+ texts\b.*$", re.MULTILINE)

# Errors that mean "the benchmark broke" (exit 1) rather than "a target was missed" (exit 0).
BROKEN = (OSError, psycopg.Error, redis.RedisError, requests.RequestException)


class BenchError(Exception):
    """Something broke: the benchmark cannot give a figure."""


# --- processes ------------------------------------------------------------


class Process:
    """One Procfile line run with `sh -c` in its own session, logging to a file."""

    def __init__(self, name: str, command: str, *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.command = command
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.popen = subprocess.Popen(  # noqa: S603 - runs the project's own Procfile line
            ["sh", "-c", command],  # noqa: S607 - sh from PATH, as a Procfile runner does
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pgid(self) -> int:
        """The process group (start_new_session: the leader's pid is the group id)."""
        return self.popen.pid

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def check_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise BenchError(
                f"{self.name} exited with code {code}; last lines of {self.log_path}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        """SIGTERM the group, wait for all of it (not just `sh`), then SIGKILL whatever is left.

        `sh -c` (dash) does not exec the command, so the shell dies at once on
        SIGTERM: wait for the whole group, or gunicorn and the RQ worker never
        shut down gracefully. RQ's work horses call setpgrp() and so leave the
        group: they are found beforehand as the leader's descendants and are
        waited for and killed by pid as well.
        """
        pids = process_tree(self.pgid)
        _killpg(self.pgid, signal.SIGTERM)
        if not _wait_gone(self.pgid, pids, self.popen, STOP_TIMEOUT):
            print(f"  {self.name} did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM; SIGKILL", flush=True)
        _killpg(self.pgid, signal.SIGKILL)
        for pid in _live(self.pgid, pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not _wait_gone(self.pgid, pids, self.popen, STOP_TIMEOUT):
            print(
                f"  {self.name} (group {self.pgid}) still running after SIGKILL", file=sys.stderr, flush=True
            )
        self._log.close()


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stat_fields(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ... (None if gone)."""
    try:
        # The command name is in parentheses and may itself hold spaces or parentheses.
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None  # the process exited while we looked


def _live(pgid: int, pids: set[int]) -> list[int]:
    """Running (not zombie) processes of the group, or among `pids`."""
    return [pid for pid, (_, pgrp) in proc_table().items() if pgrp == pgid or pid in pids]


def _wait_gone(pgid: int, pids: set[int], leader: subprocess.Popen, timeout: float) -> bool:
    """Wait until no process of the group (or of `pids`) runs; reap the leader. False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        leader.poll()
        if not _live(pgid, pids):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def procfile_commands() -> dict[str, str]:
    commands = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            commands[name.strip()] = command.strip()
    for needed in ("web", "worker"):
        if needed not in commands:
            raise BenchError(f"Procfile has no `{needed}:` line")
    return commands


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(
    port: int,
    *,
    database_url: str,
    redis_url: str,
    debug: bool = True,
    overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of web and worker: this one's, pointed at the benchmark's database and Redis.

    debug=False runs the app as in production (DEBUG off: no SQL kept per query, the production
    static files storage), minus TLS, which a local run has none of: SECURE_SSL_REDIRECT=0. Its
    cookies are then marked Secure; `session_open()`'s session sends them over http anyway.
    """
    env = dict(os.environ)
    env.pop("DYNO", None)  # not on Heroku: no forced database SSL
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(ROOT / ".venv"),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="1" if debug else "0",
        SECRET_KEY="bench-secret-key-not-used-in-production-0123456789abcdefghij",  # noqa: S106
        PORT=str(port),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="INFO",  # RQ's "Successfully completed ... in X s" lines
        # One client submits every few hundred ms: lift the per-address rate limit
        # (30 a minute by default) so it never answers 429, but keep the check and its
        # Redis round trip in the measured path (0 would skip it).
        SUBMITS_PER_MINUTE="1000000",
        # The benchmarks measure the job system against VADER's raw rate unless they name
        # another analyzer in the request (bench_throughput --analyzer, bench_latency --analyzer).
        DEFAULT_ANALYZER="vader",
        # One process a worker dyno, as the figures in README were measured; a benchmark of
        # the supervisor sets it (bench_throughput --concurrency).
        WORKER_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
    )
    if not debug:
        env.update(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0", SECURE_HSTS_PRELOAD="0")
    env.update(overrides or {})
    return env


def wait_until_ready(base_url: str, web: Process, workers: Sequence[Process] = ()) -> None:
    """Wait until web answers /healthz with 200 and every worker logged "Listening on"."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    processes = [web, *workers]
    ready = dict.fromkeys((p.name for p in processes), False)
    while not all(ready.values()):
        if time.monotonic() > deadline:
            waiting = [name for name, ok in ready.items() if not ok]
            tails = "\n".join(f"--- {p.name} ({p.log_path}):\n{p.log_tail()}" for p in processes)
            raise BenchError(f"not ready after {STARTUP_TIMEOUT:.0f} s: {', '.join(waiting)}\n{tails}")
        for process in processes:
            process.check_alive()
        for worker in workers:
            ready[worker.name] = ready[worker.name] or "Listening on" in worker.log_text()
        if not ready[web.name]:
            try:
                ready[web.name] = requests.get(f"{base_url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                pass
        time.sleep(0.1)


def start_app(
    commands: dict[str, str],
    *,
    env: dict[str, str],
    log_dir: Path,
    base_url: str,
    workers: int,
    processes: list[Process],
) -> tuple[Process, list[Process]]:
    """Start web and `workers` worker processes (each its own group, like worker.1, worker.2 dynos).

    Every process started is appended to `processes` at once, so the caller's cleanup stops it
    even if a later one fails to start.
    """
    web = Process("web", commands["web"], env=env, log_dir=log_dir)
    processes.append(web)
    worker_list = []
    for n in range(1, workers + 1):
        worker = Process(f"worker.{n}", commands["worker"], env=env, log_dir=log_dir)
        processes.append(worker)
        worker_list.append(worker)
    wait_until_ready(base_url, web, worker_list)
    return web, worker_list


# --- database and Redis ---------------------------------------------------


def database_url(db_name: str) -> str:
    return f"{PG_SERVER_URL}/{db_name}"


def database_recreate(db_name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')


def migrate(env: dict[str, str], log_dir: Path) -> None:
    """Create the tables, and with DEBUG off collect the static files, as a Heroku release does.

    With DEBUG off the app serves static files from WhiteNoise's manifest in STATIC_ROOT
    (git-ignored): without collectstatic every page would fail on its first static URL.
    """
    _manage(["migrate", "--noinput"], env=env, log_path=log_dir / "migrate.log")
    if env.get("DEBUG") == "0":
        _manage(["collectstatic", "--noinput"], env=env, log_path=log_dir / "collectstatic.log")


def django_here(
    db_name: str, *, redis_url: str, log_dir: Path, overrides: dict[str, str] | None = None
) -> None:
    """Set Django up in this process on a fresh, migrated database, DEBUG off as in production."""
    database_recreate(db_name)
    env = app_env(
        free_port(), database_url=database_url(db_name), redis_url=redis_url, debug=False, overrides=overrides
    )
    migrate({**env, "DEBUG": "1"}, log_dir)
    os.environ.update({**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _manage(args: list[str], *, env: dict[str, str], log_path: Path) -> None:
    with log_path.open("wb") as log:
        code = subprocess.call(  # noqa: S603 - the project's own manage.py
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        output = log_path.read_text(errors="replace")
        raise BenchError(f"manage.py {args[0]} failed with code {code}:\n{output}")


def redis_flush(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


# --- the client -----------------------------------------------------------


class AppSession(requests.Session):
    """A requests session that also sends Secure cookies to the local, plain-http app.

    With DEBUG off the app marks its session and CSRF cookies Secure, as it must behind Heroku's
    TLS; http.cookiejar would then keep them to itself over http://127.0.0.1. With DEBUG on the
    cookies are not Secure and this changes nothing.
    """

    def request(self, *args, **kwargs) -> requests.Response:
        response = super().request(*args, **kwargs)
        for cookie in self.cookies:
            cookie.secure = False
        return response


def session_open(base_url: str) -> tuple[requests.Session, str]:
    """GET / as a browser does: return the session (cookie jar) and its CSRF token."""
    session = AppSession()
    try:
        home = session.get(f"{base_url}/", timeout=10)
        csrf = session.cookies.get("csrftoken")
        if home.status_code != 200 or not csrf:
            raise BenchError(f"GET / answered {home.status_code} with no csrftoken cookie")
    except BaseException:
        session.close()
        raise
    return session, csrf


def job_url(base_url: str, response: requests.Response) -> str:
    """The job's URL from a 202's Location header."""
    location = response.headers.get("Location")
    if not location:
        raise BenchError(f"POST /api/jobs/ answered {response.status_code} without Location")
    return location if location.startswith("http") else base_url + location


def csv_bytes(texts: Sequence[str], *, column: str = "review") -> bytes:
    """A UTF-8 CSV file with an id column and the texts in `column` (quoted where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", column])
    writer.writerows(enumerate(texts, 1))
    return out.getvalue().encode()


def multipart_body(filename: str, data: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart/form-data body with `file` and the fields: (body, Content-Type), built once.

    Built ahead so that a timed POST measures the upload and the server, not the client encoding it.
    """
    body, content_type = urllib3.encode_multipart_formdata({**fields, "file": (filename, data, "text/csv")})
    return body, content_type


@dataclass
class Poll:
    seconds: float  # since the POST started
    status: str
    done: int
    total: int | None


def upload_post(
    session: requests.Session,
    base_url: str,
    csrf: str,
    body: bytes,
    content_type: str,
    *,
    timeout: float = 120,
) -> tuple[requests.Response, float]:
    """POST a prebuilt multipart body to /api/jobs/: (the 202 response, seconds it took)."""
    headers = {"X-CSRFToken": csrf, "Content-Type": content_type}
    t0 = time.perf_counter()
    response = session.post(f"{base_url}/api/jobs/", data=body, headers=headers, timeout=timeout)
    seconds = time.perf_counter() - t0
    if response.status_code != 202:
        raise BenchError(f"POST /api/jobs/ answered {response.status_code}: {response.text[:500]}")
    return response, seconds


def job_wait(
    session: requests.Session,
    url: str,
    *,
    t0: float,
    poll_interval: float,
    timeout: float,
    processes: Sequence[Process] = (),
    every: Callable[[list[Poll]], None] | None = None,
) -> tuple[dict, list[Poll]]:
    """Poll a job every poll_interval s until it succeeded: (its last JSON, every poll).

    t0 is the perf_counter() of the POST; times are counted from it. Raises BenchError if the job
    ends otherwise, takes longer than timeout, or one of the processes dies; `every(polls)` is
    called after each poll that did not end it (a progress line, a check).
    """
    polls: list[Poll] = []
    while True:
        time.sleep(poll_interval)
        response = session.get(url, timeout=30)
        now = time.perf_counter() - t0
        if response.status_code != 200:
            raise BenchError(f"GET {url} answered {response.status_code}: {response.text[:500]}")
        job = response.json()
        progress = job.get("progress") or {}
        polls.append(Poll(now, job["status"], progress.get("done") or 0, progress.get("total")))
        if job["status"] == "succeeded":
            return job, polls
        if job["status"] not in ("queued", "running"):
            raise BenchError(f"job {job['id']} ended {job['status']}: error={job.get('error')}")
        for process in processes:
            process.check_alive()
        if now > timeout:
            raise BenchError(f"job {job['id']} not finished after {timeout:.0f} s: {progress}")
        if every is not None:
            every(polls)


def progress_printer(every_s: float):
    """A job_wait callback that prints the job's progress every every_s seconds."""
    last = [0.0]

    def show(polls: list[Poll]) -> None:
        poll = polls[-1]
        if poll.seconds - last[0] >= every_s:
            last[0] = poll.seconds
            print(f"  {poll.seconds:6.1f} s: {poll.status} {poll.done:,}/{poll.total or '?'}", flush=True)

    return show


def job_times(job: dict) -> dict[str, float | None]:
    """The job's own server-side durations, seconds: queued (created -> started), run, total."""
    created, started, finished = (
        datetime.fromisoformat(job[k]) if job.get(k) else None
        for k in ("created_at", "started_at", "finished_at")
    )
    return {
        "queued": (started - created).total_seconds() if started and created else None,
        "run": (finished - started).total_seconds() if finished and started else None,
        "total": (finished - created).total_seconds() if finished and created else None,
    }


# --- RQ's own records -----------------------------------------------------------


@dataclass
class RqJob:
    id: str
    description: str
    worker: str
    enqueued: datetime | None
    started: datetime | None
    ended: datetime | None

    @property
    def seconds(self) -> float | None:
        return (self.ended - self.started).total_seconds() if self.started and self.ended else None


def rq_jobs(redis_url: str) -> list[RqJob]:
    """Every RQ job the run's Redis database still holds (RESULT_TTL keeps finished ones an hour)."""

    def when(value: bytes | None) -> datetime | None:
        return datetime.fromisoformat(value.decode()) if value else None

    client = redis.Redis.from_url(redis_url)
    try:
        jobs = []
        for key in client.scan_iter(match="rq:job:*", count=1000):
            if client.type(key) != b"hash":
                continue
            data = client.hmget(key, "description", "worker_name", "enqueued_at", "started_at", "ended_at")
            if data[3] is None:
                continue
            jobs.append(
                RqJob(
                    id=key.decode().removeprefix("rq:job:"),
                    description=(data[0] or b"").decode(),
                    worker=(data[1] or b"").decode(),
                    enqueued=when(data[2]),
                    started=when(data[3]),
                    ended=when(data[4]),
                )
            )
    finally:
        client.close()
    return sorted(jobs, key=lambda j: j.started or datetime.max.replace(tzinfo=UTC))


def rq_worker_names(workers: Sequence[Process]) -> dict[str, str]:
    """RQ's random worker name -> our process name, from each worker's "Worker <name>: started" line."""
    names = {}
    for worker in workers:
        match = re.search(r"Worker (\S+): started with PID", worker.log_text())
        if match:
            names[match.group(1)] = worker.name
    return names


# --- options ---------------------------------------------------------------


def parse_env(values: Sequence[str]) -> dict[str, str]:
    env = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"--env wants NAME=VALUE, not {value!r}")
        env[name] = setting
    return env


# --- /proc readers ----------------------------------------------------------


def proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgrp) of every live process (zombies left out)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields and len(fields) > 2 and fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def process_tree(root: int, table: dict[int, tuple[int, int]] | None = None) -> set[int]:
    """root, its descendants and the rest of its process group (live processes only)."""
    table = proc_table() if table is None else table
    pids = {pid for pid, (_, pgrp) in table.items() if pgrp == root}
    if root in table:
        pids.add(root)
    grew = True
    while grew:
        children = {pid for pid, (ppid, _) in table.items() if ppid in pids} - pids
        pids |= children
        grew = bool(children)
    return pids


def proc_status_kb(pid: int, *fields: str) -> dict[str, int] | None:
    """Sizes in kB from /proc/<pid>/status (VmRSS, VmHWM, ...); None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in fields:
            values[key] = int(rest.split()[0])
    return values


def proc_pss_kb(pid: int) -> int | None:
    """Proportional set size (shared pages split between their users), kB; None if unreadable."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


@dataclass
class ProcPeak:
    pid: int
    ppid: int
    cmdline: str
    first_seen: float  # seconds since the sampler started
    last_seen: float
    rss_kb: int = 0  # highest VmRSS sampled
    hwm_kb: int = 0  # highest VmHWM seen: the kernel's own peak, spikes between samples included
    peak_at: float = 0.0  # when the highest VmRSS was sampled


class RssSampler:
    """Sample the memory of process trees (a Process's group and descendants) in a thread.

    Every `interval` s it reads VmRSS and VmHWM from /proc/<pid>/status of each process (and,
    with pss=True, Pss from smaps_rollup), keeping per-process peaks and the peak of the sums.
    """

    def __init__(self, roots: Sequence[int], *, interval: float = 0.1, pss: bool = True) -> None:
        self.roots = list(roots)
        self.interval = interval
        self.pss = pss
        self.procs: dict[int, ProcPeak] = {}
        self.sum_rss_kb = 0
        self.sum_rss_at = 0.0
        self.sum_pss_kb = 0
        self.sum_pss_at = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._t0 = 0.0
        self.started_wall = 0.0

    def __enter__(self) -> RssSampler:
        self.started_wall = time.time()  # the sampler's times are seconds since then
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        now = time.perf_counter() - self._t0
        table = proc_table()
        pids: set[int] = set()
        for root in self.roots:
            pids |= process_tree(root, table)
        total_rss = total_pss = 0
        for pid in pids:
            status = proc_status_kb(pid, "VmRSS", "VmHWM")
            if not status or "VmRSS" not in status:
                continue  # gone, or a kernel thread
            peak = self.procs.get(pid)
            if peak is None:
                peak = self.procs[pid] = ProcPeak(pid, table[pid][0], proc_cmdline(pid), now, now)
            peak.last_seen = now
            rss = status["VmRSS"]
            if rss > peak.rss_kb:
                peak.rss_kb, peak.peak_at = rss, now
            peak.hwm_kb = max(peak.hwm_kb, status.get("VmHWM", 0))
            total_rss += rss
            if self.pss:
                total_pss += proc_pss_kb(pid) or 0
        if total_rss > self.sum_rss_kb:
            self.sum_rss_kb, self.sum_rss_at = total_rss, now
        if total_pss > self.sum_pss_kb:
            self.sum_pss_kb, self.sum_pss_at = total_pss, now
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.perf_counter() - started)))

    def biggest(self) -> ProcPeak | None:
        return max(self.procs.values(), key=lambda p: max(p.rss_kb, p.hwm_kb), default=None)


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process tree: its live processes, plus the children they have reaped.

    A reaped child's time (an RQ work horse, once the worker has waited for it) is added to its
    parent's cutime/cstime by the kernel, so nothing that ended before now is lost.
    """
    total = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields and len(fields) > 14:
            # utime, stime, cutime, cstime: fields 14-17 of stat(5), here counted from `state` = 3.
            total += sum(int(x) for x in fields[11:15])
    return total / _TICKS


@dataclass
class MachineCpu:
    """CPU seconds of the whole machine (all cores) from /proc/stat; subtract two to get a period's."""

    busy: float  # user, nice, system, irq, softirq: work done here, by anyone
    steal: float  # "steal" as the guest kernel counts it: time the host ran someone else on our vCPUs
    total: float  # everything, idle included: elapsed seconds x cores

    def __sub__(self, other: MachineCpu) -> MachineCpu:
        return MachineCpu(self.busy - other.busy, self.steal - other.steal, self.total - other.total)

    def describe(self, cores: int) -> str:
        return (
            f"machine busy {self.busy:.1f} of {self.total:.1f} CPU-s ({self.busy / self.total:.0%} of "
            f"{cores} cores), steal {self.steal:.1f} CPU-s ({self.steal / self.total:.0%})"
        )


def machine_cpu() -> MachineCpu:
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    values += [0] * (8 - len(values))
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    # guest time is already counted in user
    return MachineCpu(
        busy=(user + nice + system + irq + softirq) / _TICKS,
        steal=steal / _TICKS,
        total=(user + nice + system + idle + iowait + irq + softirq + steal) / _TICKS,
    )


# --- report helpers -----------------------------------------------------------


def machine_line() -> str:
    return (
        f"machine: nproc={len(os.sched_getaffinity(0))}, python {platform.python_version()} "
        f"({sys.executable}), {platform.system()} {platform.release()}, "
        f"loadavg {loadavg()}"
    )


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def mib(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"


# --- running a benchmark ------------------------------------------------------


def shutdown(processes: list[Process], *, redis_url: str, log_dir: Path, what: str) -> None:
    """Stop the processes (last started first), flush Redis; a second Ctrl-C cannot cut it short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"\nstopping {what} ...", flush=True)
    for process in reversed(processes):
        process.stop()
    processes.clear()
    try:
        redis_flush(redis_url)
    except redis.RedisError as exc:
        print(f"could not flush {redis_url}: {exc}", file=sys.stderr)
    print(f"logs kept in {log_dir}", flush=True)


def signals_restore() -> None:
    """Answer Ctrl-C and SIGTERM again (after a shutdown() between two measured phases)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_main(bench: Callable[[], object]) -> int:
    """Run a benchmark: 0 when it measured (targets met or not), 1 when it broke, 130 on Ctrl-C."""
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        bench()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (BenchError, *BROKEN) as exc:
        print(f"\nBENCHMARK BROKE: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
