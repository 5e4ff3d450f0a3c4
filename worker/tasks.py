"""RQ job functions: thin, take ids, safe to run twice."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import close_old_connections
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from worker.exceptions import InputError
from worker.messages import Message, gettext_noop
from worker.pipeline import chunk_process, job_fail, job_process

logger = logging.getLogger(__name__)


def job_run(job_id: str) -> None:
    """Process one sentiment job (or split it into chunks) and record how it ended."""
    _run(job_id, job_process)


def chunk_run(job_id: str, seq: int) -> None:
    """Process one chunk of a big job; the last one finalizes the job."""
    _run(job_id, lambda pk: chunk_process(pk, seq))


def _run(job_id: str, work) -> None:
    """Run work for a job; fail the job with a readable message when it cannot succeed."""
    pk = uuid.UUID(job_id)
    try:
        work(pk)
    except InputError as exc:
        logger.info("job %s: failed on its input: %s", job_id, exc.message)
        job_fail(pk, code=exc.code, message=exc.localizable)
    except Exception as exc:
        rq_job = get_current_job()
        if rq_job is not None and rq_job.retries_left:
            logger.warning("job %s: attempt failed (%s); RQ will retry it", job_id, type(exc).__name__)
            raise
        logger.exception("job %s: failed", job_id)
        # A dropped database connection is what failed, perhaps: record the failure on a fresh one.
        close_old_connections()
        code, message = _failure_text(exc, rq_job, job_id)
        job_fail(pk, code=code, message=message)
        raise


def _failure_text(exc: Exception, rq_job, job_id: str) -> tuple[str, Message]:
    """Return the error code and the message a person reads for a job that ran out of attempts."""
    attempts = settings.SENTIMETER["JOB_RETRIES"] + 1 if rq_job is not None else 1
    advice = Message(
        gettext_noop("Please submit the job again; if it keeps failing, report job id %(job_id)s."),
        {"job_id": job_id},
    )
    if isinstance(exc, JobTimeoutException):
        if rq_job is not None and rq_job.timeout:
            limit = Message(gettext_noop("%(seconds)s s"), {"seconds": rq_job.timeout})
        else:
            limit = Message(gettext_noop("its time limit"))
        return "timeout", Message(
            gettext_noop(
                "Part of the analysis took longer than %(limit)s and was stopped "
                "(%(attempts)s attempts). %(advice)s"
            ),
            {"limit": limit, "attempts": attempts, "advice": advice},
        )
    return "internal_error", Message(
        gettext_noop(
            "The analysis stopped because of an internal error (%(error)s, %(attempts)s attempts). %(advice)s"
        ),
        {"error": type(exc).__name__, "attempts": attempts, "advice": advice},
    )
