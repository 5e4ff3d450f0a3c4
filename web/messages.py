"""Messages said in the reader's language: errors, stored job messages, warnings, skipped rows.

A message is an English template and its parameters (worker.messages); it
is translated here, per request (LocaleMiddleware has chosen the language),
with numbers formatted for that language. What was stored before templates
were (plain English text) is shown as it was stored.
"""

from __future__ import annotations

from django.utils import formats
from django.utils.translation import gettext

from web.models import Job
from worker.messages import Message


def _number(value: int | float) -> str:
    return formats.number_format(value, use_l10n=True, force_grouping=True)


def message_say(message: Message) -> str:
    """Say a message in the active language."""
    return message.render(translate=gettext, number=_number)


def stored_say(stored: object, english: str) -> str:
    """Say a stored message (Message.to_json) in the active language; `english` when none was stored."""
    message = Message.from_json(stored)
    if message is None:
        return english
    try:
        return message_say(message)
    except (KeyError, TypeError, ValueError):
        # A template whose translation names other parameters than were stored: the English stands.
        return english


def job_error(job: Job) -> str:
    """The job's error message, in the active language."""
    return stored_say(job.error_text, job.error_message)


def job_warnings(job: Job) -> list[dict]:
    """The job's warnings as the API shows them: [{"code", "message"}]."""
    return [
        {"code": w.get("code"), "message": stored_say(w.get("text"), w.get("message", ""))}
        for w in job.warnings or []
    ]


def skipped_examples(job: Job) -> list[dict]:
    """The first skipped rows as the API shows them: [{"row", "reason"}]."""
    return [
        {"row": e.get("row"), "reason": stored_say(e.get("text"), e.get("reason") or "")}
        for e in job.skipped_examples or []
    ]
