"""Start the Procfile's processes for a test, and stop them however the test ends.

A process runs exactly the command its Procfile line names (`sh -c`, as
Heroku runs it), with the venv first on PATH, DATABASE_URL pointing at
pytest-django's test database and REDIS_URL at the test Redis database.
Each one leads a process group of its own, so stopping it reaches every
child; RQ's work horses call setpgrp(), so they are also found by walking
/proc and signalled by pid.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlsplit, urlunsplit

import psutil
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from redis import Redis

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROCFILE = PROJECT_DIR / "Procfile"
VENV_BIN = PROJECT_DIR / ".venv" / "bin"

# The machine is small and shared: waits are generous, and no test asserts on time.
START_TIMEOUT = 60.0
WAIT_TIMEOUT = 60.0
POLL_INTERVAL = 0.1
# Longer than SHUTDOWN_GRACE (10 s), the time a busy horse gets after SIGTERM,
# well under Heroku's own 30 s between SIGTERM and SIGKILL.
STOP_GRACE = 15.0
# RQ logs this once the worker has registered and is taking jobs.
WORKER_READY = "Listening on"
# Worker processes per started `worker:` line (WORKER_CONCURRENCY). One by default: the
# suite's tests were written for, and timed with, one process a worker; a test that wants
# more passes WORKER_CONCURRENCY itself. `TEST_WORKER_CONCURRENCY=2 pytest tests/test_chaos.py`
# runs every chaos test with two processes a worker "dyno", as the issue asks.
WORKER_CONCURRENCY = os.environ.get("TEST_WORKER_CONCURRENCY", "1")


class WaitTimeout(AssertionError):
    """A condition a test waited for did not come true in time."""


def wait_for[T](
    predicate: Callable[[], T],
    *,
    timeout: float = WAIT_TIMEOUT,
    interval: float = POLL_INTERVAL,
    what: str | Callable[[], str] = "the condition",
) -> T:
    """Call `predicate` until it returns something truthy, and return that; WaitTimeout after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            description = what() if callable(what) else what
            raise WaitTimeout(f"gave up after {timeout:.0f} s waiting for {description}")
        time.sleep(interval)


def procfile_command(process_type: str, procfile: Path = PROCFILE) -> str:
    """Return the command of one Procfile line (`web`, `worker`, `release`)."""
    for line in procfile.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process_type:
            return command.strip()
    raise LookupError(f"{procfile} has no {process_type!r} line")


def lock_waiters(query_like: str) -> set[int]:
    """Backend pids of other sessions of the test database waiting on a lock in a statement LIKE this."""
    with connection.cursor() as cursor:
        # Inside a transaction pg_stat_activity is read once and cached: drop that copy first.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE %s",
            [query_like],
        )
        return {pid for (pid,) in cursor.fetchall()}


def update_waiters(table: str) -> set[int]:
    """Backend pids of the other sessions waiting on a row lock to update `table`."""
    return lock_waiters(f'UPDATE "{table}"%')


def update_waiting(table: str) -> bool:
    """Whether another session waits on a row lock to update `table` (a worker at its commit, say)."""
    return bool(update_waiters(table))


def database_url(settings_dict: Mapping | None = None) -> str:
    """Return a DATABASE_URL for the database Django is using now (the test database in a test)."""
    conf = settings_dict or connection.settings_dict
    if conf["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{conf['NAME']}"
    if conf["ENGINE"] not in ("config.postgres", "django.db.backends.postgresql"):
        raise ValueError(f"no DATABASE_URL scheme for {conf['ENGINE']}")
    credentials = quote(conf.get("USER") or "", safe="")
    if conf.get("PASSWORD"):
        credentials += ":" + quote(conf["PASSWORD"], safe="")
    host = conf.get("HOST") or "127.0.0.1"
    port = conf.get("PORT") or "5432"
    return f"postgres://{credentials}@{host}:{port}/{quote(conf['NAME'], safe='')}"


def process_env(overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Return the environment for a child: ours, pointed at the test services, then `overrides`.

    An override of None removes the variable (to get a setting's production default).
    """
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DATABASE_URL"] = database_url()
    env["REDIS_URL"] = settings.REDIS_URL
    env["PYTHONUNBUFFERED"] = "1"
    env["WORKER_CONCURRENCY"] = WORKER_CONCURRENCY
    for name in ("PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS", "VIRTUAL_ENV", "TEST_WORKER_CONCURRENCY"):
        env.pop(name, None)
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def run(
    args: list[str], *, env: Mapping[str, str], timeout: float = 120.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a short command (`python manage.py migrate`) in the project directory and capture its output."""
    result = subprocess.run(
        args, cwd=PROJECT_DIR, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def redis_url_with_db(url: str, db: int) -> str:
    """Return `url` pointing at Redis database `db` (to keep one process family's keys apart)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def redis_db_aside(offset: int) -> int:
    """A Redis database beside the test one (REDIS_URL's), for a process family of its own.

    Counted down from the test database (15 by default: sqlite 14, e2e 13, browser 12), so two runs
    of the suite whose REDIS_URLs are 4 or more databases apart never share one
    (a helper's run on db 11 uses 10, 9, 8).
    """
    base = int(urlsplit(settings.REDIS_URL).path.lstrip("/") or 0)
    return (base - offset) % 16


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def worker_processes(proc: Proc) -> int:
    """How many worker processes a started `worker:` line runs (its supervisor's log says)."""
    match = re.search(r"worker concurrency (\d+):", proc.log())
    return int(match.group(1)) if match else 1


def _children_of(pid: int) -> Iterator[int]:
    proc = Path("/proc")
    if not proc.is_dir():
        return
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (2nd field) is in parentheses and may hold spaces.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            yield int(entry.name)


def descendants(pid: int) -> list[int]:
    """Return every live descendant of `pid` (Linux /proc; empty elsewhere)."""
    found, todo = [], [pid]
    while todo:
        for child in _children_of(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Proc:
    """One started process (and its process group), with its log."""

    name: str
    command: str
    popen: subprocess.Popen
    log_path: Path
    _log_file: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        """Return everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text: str, *, timeout: float = START_TIMEOUT) -> None:
        """Wait until `text` appears in the log; fail early if the process exits."""

        def seen() -> bool:
            if text in self.log():
                return True
            if not self.alive():
                raise AssertionError(
                    f"{self.name} exited {self.popen.returncode} before logging {text!r}:\n{self.log_tail()}"
                )
            return False

        wait_for(seen, timeout=timeout, what=lambda: f"{self.name} to log {text!r}; log:\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        """Send `sig` to the whole process group (as Heroku signals every process of a dyno)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def stop(self, *, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM the group, SIGKILL whatever is left after `grace` s; return the exit code."""
        # Collected first: once the leader is gone its children are reparented out of reach.
        family = descendants(self.pid) if self.alive() else []
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        self.signal(signal.SIGKILL)
        for pid in family + descendants(self.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace)
        self._log_file.close()
        return self.popen.returncode


class ProcessRunner:
    """Starts Procfile processes and stops every one of them on `stop_all()`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def start(self, process_type: str, *, env: Mapping[str, str | None] | None = None) -> Proc:
        """Start the Procfile's `process_type` line with `sh -c`, logging to a file."""
        command = procfile_command(process_type)
        name = f"{process_type}-{len(self.procs) + 1}"
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("wb")
        popen = subprocess.Popen(
            ["sh", "-c", command],
            cwd=PROJECT_DIR,
            env=process_env(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc(name=name, command=command, popen=popen, log_path=log_path, _log_file=log_file)
        self.procs.append(proc)
        return proc

    def start_worker(self, env: Mapping[str, str | None] | None = None) -> Proc:
        """Start the Procfile worker and return once every one of its processes listens on the queues."""
        proc = self.start("worker", env={"LOG_LEVEL": "INFO", **(env or {})})
        proc.wait_for_log(WORKER_READY)
        wait_for(
            lambda: proc.log().count(WORKER_READY) >= worker_processes(proc),
            timeout=START_TIMEOUT,
            what=lambda: f"every process of {proc.name} to listen; log:\n{proc.log_tail()}",
        )
        return proc

    def start_web(self, env: Mapping[str, str | None] | None = None) -> tuple[Proc, int]:
        """Start the Procfile web process on a free port; return it and the port once it accepts."""
        port = free_port()
        proc = self.start("web", env={"WEB_CONCURRENCY": "1", **(env or {}), "PORT": str(port)})

        def listening() -> bool:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited {proc.popen.returncode}:\n{proc.log_tail()}")
            return port_open(port)

        wait_for(listening, timeout=START_TIMEOUT, what=lambda: f"{proc.name} to listen on {port}")
        return proc, port

    def stop_all(self) -> None:
        """Stop every process started here, newest first."""
        while self.procs:
            self.procs.pop().stop()


# --- doing to a worker dyno what Heroku (or a crash) does ----------------------------------

# Fast reliability settings for workers under test (production: 30 / 10 / 45 / 10 s), so
# recovery takes seconds, not the production minute.
CHAOS_ENV = {
    "RECONCILE_INTERVAL": "1",
    "HEARTBEAT_INTERVAL": "1",
    "STALE_AFTER": "4",
    "ENQUEUE_GRACE": "1",
    "RETRY_INTERVALS": "1",
}
# Heroku sends SIGKILL this long after SIGTERM.
HEROKU_GRACE = 30.0


def family(proc) -> list[int]:
    """Every live process of a worker: the leader, its children and its work horses."""
    return [proc.pid, *descendants(proc.pid)] if proc.alive() else descendants(proc.pid)


def kill_all(proc, sig: int = signal.SIGKILL, *, pids: list[int] | None = None) -> list[int]:
    """Send `sig` once to every process of a worker, as Heroku does to every process of a dyno.

    The process group (leader, supervised workers, RQ scheduler) gets it with killpg; work
    horses lead groups of their own and get it by pid. Returns the pids signalled (pass them
    again later: once the leader is gone its horses are no longer its descendants).
    """
    pids = family(proc) if pids is None else pids
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) != proc.pid:
                os.kill(pid, sig)
    return pids


def reap(proc, timeout: float = 10.0) -> None:
    """Wait for a killed worker's leader to be gone (and its pipes closed)."""
    with contextlib.suppress(Exception):
        proc.popen.wait(timeout=timeout)


def horses(proc) -> list[int]:
    """The worker's work horses (RQ makes each one lead its own process group)."""
    found = []
    for pid in descendants(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                found.append(pid)
    return found


def heroku_stop(worker) -> float:
    """SIGTERM every process of the worker, SIGKILL what is left 30 s later; return its exit time in s."""
    started = time.monotonic()
    pids = kill_all(worker, signal.SIGTERM)
    deadline = started + HEROKU_GRACE
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in pids):
        time.sleep(0.05)
    took = time.monotonic() - started
    # Whatever is still alive now gets SIGKILL, as on Heroku.
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    reap(worker)
    return took


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


@contextlib.contextmanager
def production_app(
    log_dir: Path, *, redis_db: int, start_worker: bool, **overrides: str | None
) -> Iterator[tuple[ProcessRunner, int, dict[str, str | None]]]:
    """Run the Procfile web (and worker) with production settings on a Redis database of their own.

    Static files come from WhiteNoise's manifest, as on Heroku. Yields the
    runner, the web port and the environment; stops everything and empties
    that Redis database at the end.
    """
    redis_url = redis_url_with_db(settings.REDIS_URL, redis_db)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    env: dict[str, str | None] = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "REDIS_URL": redis_url,
        **overrides,
    }
    run(["python", "manage.py", "collectstatic", "--noinput", "-v", "0"], env=process_env(env))
    runner = ProcessRunner(log_dir)
    try:
        if start_worker:
            runner.start_worker(env)
        _, port = runner.start_web(env)
        yield runner, port, env
    finally:
        runner.stop_all()
        redis.flushdb()
        redis.close()


@pytest.fixture(name="procs")
def procs_fixture(tmp_path) -> Iterator[ProcessRunner]:
    """A ProcessRunner whose processes are all stopped when the test ends, passed or failed."""
    runner = ProcessRunner(tmp_path)
    try:
        yield runner
    finally:
        runner.stop_all()


@pytest.fixture(name="worker_proc")
def worker_proc_fixture(procs) -> Callable[..., Proc]:
    """Factory: `worker_proc(CHUNK_SIZE="100")` starts a listening Procfile worker with env overrides."""

    def start(**env: str | None) -> Proc:
        return procs.start_worker(env)

    return start


# --- who holds which connection ---------------------------------------------------------


def socket_owners(server_port: int) -> dict[int, set[int]]:
    """Local port -> the pids holding that TCP connection to `server_port` on this machine.

    A socket opened before a fork() is held by parent and child alike: both are listed.
    """
    owners: dict[int, set[int]] = {}
    for conn in psutil.net_connections("tcp"):
        if conn.raddr and conn.raddr.port == server_port and conn.pid:
            owners.setdefault(conn.laddr.port, set()).add(conn.pid)
    return owners


def postgres_client_ports() -> list[int]:
    """The client ports of every connection to the test database but this test's own."""
    with psycopg.connect(database_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND client_port IS NOT NULL"
        ).fetchall()
    return [port for (port,) in rows]


def redis_client_ports() -> list[int]:
    """The client ports of every connection the test Redis server has on the test database."""
    client = Redis.from_url(settings.REDIS_URL)
    try:
        me = client.client_id()
        db = str(client.connection_pool.connection_kwargs.get("db", 0))
        clients = client.client_list()
    finally:
        client.close()
    return [int(c["addr"].rsplit(":", 1)[1]) for c in clients if int(c["id"]) != me and c["db"] == db]


@dataclass(frozen=True)
class Held:
    """Connections to Postgres (the test database) and Redis (the test db) held by some processes."""

    postgres: int
    redis: int


def postgres_ports_held(pids: set[int]) -> set[int]:
    """The client ports of the test database's connections these processes hold: one per connection."""
    owners = socket_owners(int(urlsplit(database_url()).port or 5432))
    return {port for port in postgres_client_ports() if owners.get(port, set()) & pids}


def connections_held(pids: set[int]) -> Held:
    """How many of the test database's and test Redis db's connections these processes hold."""
    redis_owners = socket_owners(int(urlsplit(settings.REDIS_URL).port or 6379))
    return Held(
        postgres=len(postgres_ports_held(pids)),
        redis=sum(1 for port in redis_client_ports() if redis_owners.get(port, set()) & pids),
    )
