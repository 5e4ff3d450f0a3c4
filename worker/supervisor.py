"""The worker dyno's supervisor: WORKER_CONCURRENCY worker processes from one Procfile line.

How many: `concurrency_choose`, a pure function of what the dyno lets this
process see (`Dyno`: scheduler affinity, the cgroup's CPU quota and memory
limit, one worker's RSS with the analyzers loaded) and of WORKER_CONCURRENCY.
The CPUs are those Heroku's own WEB_CONCURRENCY logic counts for gunicorn
(heroku-buildpack-python, vendor/WEB_CONCURRENCY.sh: `nproc`, i.e. the
affinity, against the cgroup memory limit), with the cgroup CPU quota as a
further bound (Docker's --cpus, Kubernetes limits); 1 when unknown.

How: `Supervisor` forks the workers from a process that has loaded Django,
the job code and the analyzers (so their pages are shared copy-on-write),
restarts one that dies (with a back-off, so a crash loop does not spin),
forwards SIGTERM and exits before Heroku's SIGKILL.

Why not RQ's WorkerPool (rq 3.0, `rq worker-pool`): on SIGTERM it sends
SIGINT to every worker. On Heroku each worker has already had SIGTERM from
the platform, and a second signal is RQ's cold shutdown unless it comes
within a second, which ends the job in hand without SHUTDOWN_GRACE; it
waits for its workers without a deadline, restarts a dead one within a
second however often it dies, and builds each worker with arguments of its
own (no max_jobs, its own names). What we need is a fork loop of ~150 lines.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Memory one worker needs, as a multiple of its RSS right after loading the analyzers:
# 87 MB idle, 128 MB at its peak with long texts and e5 (README, "Analyzers": Memory).
MEMORY_PER_RSS = 1.5
# A cgroup v1 memory limit this large means "no limit" (the kernel reports ~2^63 bytes).
UNLIMITED_MEMORY = 1 << 40
# Heroku sends SIGKILL 30 s after SIGTERM (devcenter: "Dyno shutdown"). Each worker gives
# the job in hand SHUTDOWN_GRACE (10 s) and then requeues it; a worker still alive this long
# after SIGTERM is killed (the reconciler recovers its work) so the supervisor exits first.
STOP_DEADLINE = 25.0
# A worker that dies within BACKOFF_RESET s of its start waits before its restart: 1, 2, 4 …
# up to BACKOFF_MAX s, so a crash loop (a broken deploy, Redis down) costs little CPU.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
BACKOFF_RESET = 60.0
POLL_INTERVAL = 0.1
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class ConcurrencyInvalid(ValueError):
    """WORKER_CONCURRENCY is not a whole number of at least 1."""


@dataclass(frozen=True)
class Dyno:
    """What this process can see of its dyno; None where it cannot tell."""

    cpus: int | None  # CPUs the scheduler may run us on (affinity)
    cpu_quota: float | None  # CPUs' worth of time the cgroup allows (cpu.max), None if unlimited
    memory_limit: int | None  # bytes the cgroup allows, None if unlimited
    rss: int | None  # bytes one worker process holds with the analyzers loaded


@dataclass(frozen=True)
class Concurrency:
    """How many worker processes to run, and why (the log line)."""

    count: int
    reason: str


def concurrency_choose(dyno: Dyno, configured: str | None) -> Concurrency:
    """Return the number of worker processes for this dyno: WORKER_CONCURRENCY, else CPUs capped by memory."""
    if configured is not None and configured.strip():
        try:
            count = int(configured)
        except ValueError:
            count = 0
        if count < 1:
            raise ConcurrencyInvalid(
                f"WORKER_CONCURRENCY={configured!r}: set it to a whole number of worker processes "
                "(1 or more), or unset it to run one per CPU of the dyno."
            )
        return Concurrency(count, f"WORKER_CONCURRENCY={count} is set")
    cpus, said = _cpus(dyno)
    if cpus is None:
        return Concurrency(1, f"{said}: 1")
    if dyno.memory_limit is None or not dyno.rss:
        return Concurrency(cpus, f"{said}; memory limit or RSS unknown, no memory cap")
    per_process = dyno.rss * MEMORY_PER_RSS
    fits = max(1, int(dyno.memory_limit // per_process))
    memory = f"memory {_mib(dyno.memory_limit)} / ({MEMORY_PER_RSS} x {_mib(dyno.rss)} RSS) fits {fits}"
    if fits < cpus:
        return Concurrency(fits, f"{said}; {memory}: capped by memory")
    return Concurrency(cpus, f"{said}; {memory}")


def _cpus(dyno: Dyno) -> tuple[int | None, str]:
    if dyno.cpus is None and dyno.cpu_quota is None:
        return None, "CPUs unknown (no affinity, no cgroup quota)"
    if dyno.cpu_quota is None:
        return dyno.cpus, f"{dyno.cpus} CPUs (affinity; no cgroup CPU quota)"
    # Rounded up, as Go's GOMAXPROCS and the JVM do: 1.5 CPUs of time keep 2 processes busy.
    quota = max(1, math.ceil(dyno.cpu_quota))
    if dyno.cpus is None or quota < dyno.cpus:
        return quota, f"{quota} CPUs (cgroup quota {dyno.cpu_quota:g}; affinity {dyno.cpus})"
    return dyno.cpus, f"{dyno.cpus} CPUs (affinity; cgroup quota {dyno.cpu_quota:g})"


def _mib(size: float) -> str:
    return f"{size / 2**20:.0f} MiB"


# --- what the dyno shows -----------------------------------------------------------------


def dyno_inspect(root: Path = CGROUP_ROOT) -> Dyno:
    """Read this process's affinity, cgroup CPU quota and memory limit, and its own RSS."""
    try:
        cpus = len(os.sched_getaffinity(0)) or None
    except (AttributeError, OSError):
        cpus = None
    return Dyno(
        cpus=cpus, cpu_quota=cpu_quota_read(root), memory_limit=memory_limit_read(root), rss=rss_read()
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_quota_read(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs' worth of time the cgroup allows (v2 cpu.max, else v1 cfs_quota_us / cfs_period_us), or None."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        if quota == "max" or not period:
            return None
        return _ratio(quota, period)
    for controller in ("cpu", "cpu,cpuacct"):
        quota, period = (
            _read(root / controller / "cpu.cfs_quota_us"),
            _read(root / controller / "cpu.cfs_period_us"),
        )
        if quota is not None and period is not None:
            return _ratio(quota, period)
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    # v1 says -1 for no quota.
    return q / p if q > 0 and p > 0 else None


def memory_limit_read(root: Path = CGROUP_ROOT) -> int | None:
    """Bytes the cgroup allows: v2 memory.max, else v1 memory.limit_in_bytes; None if unlimited or unknown."""
    value = _read(root / "memory.max")
    if value is None:
        value = _read(root / "memory" / "memory.limit_in_bytes")
    if value is None or value == "max":
        return None
    try:
        limit = int(value)
    except ValueError:
        return None
    return limit if 0 < limit < UNLIMITED_MEMORY else None


def rss_read(status: Path = Path("/proc/self/status")) -> int | None:
    """This process's resident set size in bytes (VmRSS), None where /proc does not tell."""
    text = _read(status) or ""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def backoff_next(previous: float, lived: float) -> float:
    """Seconds to wait before restarting a worker that ran `lived` s and last waited `previous` s."""
    if lived >= BACKOFF_RESET:
        return 0.0
    return min(max(previous * 2, BACKOFF_FIRST), BACKOFF_MAX)


# --- the supervisor ----------------------------------------------------------------------


@dataclass
class _Slot:
    """One worker process's place: its pid (None while it waits to restart) and its back-off."""

    index: int
    pid: int | None = None
    started: float = 0.0
    backoff: float = 0.0
    restart_at: float = 0.0
    signalled: bool = False


class Supervisor:
    """Fork `count` workers running `work(index)`; keep them running; stop them all on SIGTERM."""

    def __init__(
        self,
        count: int,
        work: Callable[[int], int],
        *,
        before_fork: Callable[[], None] = lambda: None,
        restart_clean_exits: bool = True,
        stop_deadline: float = STOP_DEADLINE,
    ) -> None:
        self.slots = [_Slot(index) for index in range(count)]
        self.work = work
        self.before_fork = before_fork
        # False with --burst or --max-jobs: a worker that ends on its own with status 0 is done.
        self.restart_clean_exits = restart_clean_exits
        self.stop_deadline = stop_deadline
        self.stopping_since: float | None = None

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (without restarts: until every worker is done); return the exit status."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for slot in self.slots:
            self._start(slot)
        while True:
            self._reap()
            now = time.monotonic()
            if self.stopping_since is not None:
                if not self._live():
                    logger.info("supervisor: every worker has exited")
                    return 0
                if now - self.stopping_since >= self.stop_deadline:
                    self._kill_left()
                    return 1
            else:
                for slot in self.slots:
                    if slot.pid is None and slot.restart_at and now >= slot.restart_at:
                        self._start(slot)
                if not self._live() and not any(slot.restart_at for slot in self.slots):
                    return 0
            time.sleep(POLL_INTERVAL)

    def _live(self) -> list[_Slot]:
        return [slot for slot in self.slots if slot.pid is not None]

    def _start(self, slot: _Slot) -> None:
        # Nothing the parent holds (a database connection above all) may be shared across fork().
        self.before_fork()
        # Blocked across the fork, so a SIGTERM there cannot run the supervisor's handler in
        # the new worker: it is delivered once the worker has RQ's (or the default) handlers.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._child(slot.index)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        slot.pid, slot.started, slot.restart_at, slot.signalled = pid, time.monotonic(), 0.0, False
        logger.info("supervisor: worker %s started (pid %s)", slot.index + 1, pid)

    def _child(self, index: int) -> None:
        """In the forked worker: the platform's signals go to RQ's handlers; never return."""
        status = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            status = self.work(index)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            logger.exception("worker %s failed", index + 1)
        finally:
            logging.shutdown()
            # os._exit: no atexit handler or finalizer of the parent's runs twice.
            os._exit(status)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((slot for slot in self.slots if slot.pid == pid), None)
            if slot is None:
                continue  # not one of ours (a process RQ forked is reaped by its own parent)
            self._ended(slot, os.waitstatus_to_exitcode(status))

    def _ended(self, slot: _Slot, code: int) -> None:
        slot.pid = None
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if self.stopping_since is not None:
            logger.info("supervisor: worker %s %s", slot.index + 1, how)
            return
        if code == 0 and not self.restart_clean_exits:
            logger.info("supervisor: worker %s is done", slot.index + 1)
            return
        lived = time.monotonic() - slot.started
        slot.backoff = backoff_next(slot.backoff, lived)
        slot.restart_at = time.monotonic() + slot.backoff
        logger.warning(
            "supervisor: worker %s %s after %.1f s; restarting it in %.0f s",
            slot.index + 1,
            how,
            lived,
            slot.backoff,
        )

    def _stop(self, signum, frame) -> None:
        """SIGTERM/SIGINT: pass SIGTERM on to every worker that has not had it from us."""
        if self.stopping_since is None:
            self.stopping_since = time.monotonic()
            logger.info(
                "supervisor: %s; stopping %s worker(s)", signal.Signals(signum).name, len(self._live())
            )
        # On Heroku every worker has had SIGTERM from the platform too: RQ takes a second one
        # within a second as the same request (Worker.request_force_stop), so this one is
        # harmless there and reaches the workers when only the supervisor was signalled.
        for slot in self._live():
            if not slot.signalled:
                slot.signalled = True
                try:
                    os.kill(slot.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def _kill_left(self) -> None:
        for slot in self._live():
            logger.warning(
                "supervisor: worker %s still running %.0f s after SIGTERM: killing it",
                slot.index + 1,
                self.stop_deadline,
            )
            try:
                os.kill(slot.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()
