"""`python manage.py analyze FILE [--column C] [--wait]`, run as `heroku run` would: a real process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command
from django_rq import get_queue

from tests.procs import PROJECT_DIR, process_env, procs_fixture, worker_proc_fixture  # noqa: F401 - fixtures
from web import services
from web.models import Job, JobInput
from worker.storedinput import input_bytes

pytestmark = pytest.mark.django_db(transaction=True)

REVIEWS = (
    "id,title,comments\r\n"
    "1,Great,Absolutely loved it!\r\n"
    "2,Bad,Terrible. It broke at once.\r\n"
    "3,Ok,The box is brown.\r\n"
)
JOB_LINE = re.compile(r"Job ([0-9a-f-]{36}) queued: reviews\.csv \((\d+) bytes\), analyzer vader\.")


@pytest.fixture
def reviews(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(REVIEWS, encoding="utf-8")
    return path


def analyze(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "analyze", *args],
        cwd=PROJECT_DIR,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_submits_through_the_upload_service_and_prints_the_job(reviews, capsys):
    call_command("analyze", str(reviews), "--column", "comments")

    out = capsys.readouterr().out
    match = JOB_LINE.search(out)
    assert match, out
    job = Job.objects.get(pk=match.group(1))
    assert job.status == Job.Status.QUEUED
    assert job.session_key.startswith("cli-")
    stored = JobInput.objects.get(job=job)
    assert input_bytes(stored) == REVIEWS.encode()
    assert stored.filename == "reviews.csv"
    assert stored.options["column"] == "comments"
    assert int(match.group(2)) == len(REVIEWS.encode())
    # Enqueued for the workers, as a browser upload is.
    assert str(job.pk) in get_queue(job.queue).job_ids


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column", "opinion"], "There is no column 'opinion'"),
        (["--analyzer", "nope"], "invalid choice: 'nope' (choose from 'e5', 'vader')"),
    ],
)
def test_a_bad_option_is_refused_with_the_reason_and_nothing_stored(reviews, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("analyze", str(reviews), *args)

    assert not Job.objects.exists()


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("analyze", str(tmp_path / "nothing.csv"))


@pytest.mark.slow
def test_wait_shows_a_bar_until_the_worker_is_done_then_the_summary(reviews, worker_proc):
    worker_proc()

    proc = analyze(str(reviews), "--column", "comments", "--wait")
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, err
    job = Job.objects.get(pk=JOB_LINE.search(out).group(1))
    assert job.status == Job.Status.SUCCEEDED
    assert f"Job {job.pk} succeeded: 3 texts." in out
    assert re.search(r"positive\s+1\s+33\.3%", out), out
    assert re.search(r"negative\s+1\s+33\.3%", out), out
    # tqdm's bar, on stderr, reached the end.
    assert re.search(r"Analyzing: 100%\|.*\| 3/3", err), err


@pytest.mark.slow
def test_wait_exits_non_zero_when_the_job_is_canceled(reviews):
    proc = analyze(str(reviews), "--wait")
    job = Job.objects.get(pk=JOB_LINE.search(proc.stdout.readline()).group(1))

    services.job_cancel(job=job)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 1
    assert f"Job {job.pk} was canceled after 0 of ? texts; its results are partial." in err


@pytest.mark.slow
def test_ctrl_c_during_wait_leaves_the_job_running_and_says_so(reviews):
    proc = analyze(str(reviews), "--wait")
    job = Job.objects.get(pk=JOB_LINE.search(proc.stdout.readline()).group(1))
    time.sleep(1)  # into the waiting loop, which starts right after that line

    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    assert f"Stopped waiting. Job {job.pk} goes on running in the workers; nothing was canceled." in err
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
