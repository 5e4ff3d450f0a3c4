"""API tokens: made, listed and revoked by their owner; checked on every Bearer request.

A token is "smt_" and 32 random bytes (URL-safe base64); the prefix lets
secret scanners (GitHub's, for one) recognise a leaked one. Only its
SHA-256 is stored: a fast hash is enough for 256 random bits, and it lets
a request find its token with one indexed lookup.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from web.exceptions import InputError, TokenNotFound
from web.models import ApiToken, Job
from worker.messages import gettext_noop
from worker.webhooks import webhook_secret

TOKEN_PREFIX = "smt_"  # noqa: S105 - a prefix, not a secret
TOKEN_BYTES = 32
# The characters of a token kept to tell it apart on the tokens page.
SHOWN_PREFIX_CHARS = len(TOKEN_PREFIX) + 4
# last_used_at is written at most this often per token: one UPDATE a minute,
# not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_NAME_CHARS = 100
INVALID_TOKEN_MESSAGE = gettext_noop("This API token is not valid: it was revoked, or mistyped.")  # noqa: S105
_NO_SUCH_TOKEN = gettext_noop("No such token.")


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: the only time its token and webhook secret are known in full."""

    record: ApiToken
    token: str
    webhook_secret: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_secret(record: ApiToken) -> str:
    """The webhook secret of a token (derived, never stored)."""
    return webhook_secret(record.secret_salt)


def name_validate(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            gettext_noop('Name the token, e.g. {"name": "nightly import"}: a non-empty string.'),
            code="invalid_name",
        )
    name = name.strip()
    if len(name) > MAX_NAME_CHARS:
        raise InputError(
            gettext_noop("The name is %(chars)s characters; the limit is %(limit)s."),
            params={"chars": len(name), "limit": MAX_NAME_CHARS},
            code="invalid_name",
        )
    return name


def token_create(*, owner_key: str, name: object) -> NewToken:
    """Make a token for this owner; raise InputError on a bad name or past MAX_TOKENS_PER_OWNER."""
    name = name_validate(name)
    limit = settings.SENTIMETER["MAX_TOKENS_PER_OWNER"]
    if limit > 0 and token_list(owner_key=owner_key).count() >= limit:
        raise InputError(
            gettext_noop("You already have %(limit)s tokens (the limit); revoke one you no longer use."),
            params={"limit": limit},
            code="too_many_tokens",
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    record = ApiToken.objects.create(
        name=name,
        owner_key=owner_key,
        prefix=token[:SHOWN_PREFIX_CHARS],
        token_hash=token_hash(token),
        secret_salt=secrets.token_hex(16),
    )
    return NewToken(record=record, token=token, webhook_secret=token_secret(record))


def token_list(*, owner_key: str | None):
    """This owner's tokens that still work, newest first."""
    if not owner_key:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(owner_key=owner_key, revoked_at__isnull=True)


def token_revoke(*, owner_key: str | None, token_id: object) -> None:
    """Revoke one of this owner's tokens at once; TokenNotFound for any other id (another owner's too)."""
    try:
        pk = int(str(token_id))
    except ValueError:
        raise TokenNotFound(_NO_SUCH_TOKEN) from None
    if not token_list(owner_key=owner_key).filter(pk=pk).update(revoked_at=Now()):
        raise TokenNotFound(_NO_SUCH_TOKEN)


@functools.cache
def _job_sql(vendor: str) -> str:
    job_table = connection.ops.quote_name(Job._meta.db_table)
    columns = ", ".join(f"j.{connection.ops.quote_name(f.column)}" for f in Job._meta.concrete_fields)
    token_table = connection.ops.quote_name(ApiToken._meta.db_table)
    owner = connection.ops.quote_name(Job._meta.get_field("session_key").column)
    pk = connection.ops.quote_name(Job._meta.pk.column)
    return (
        f"SELECT {columns}, t.last_used_at AS token_last_used_at FROM {job_table} j "  # noqa: S608 - ours
        f"JOIN {token_table} t ON t.owner_key = j.{owner} "
        f"WHERE j.{pk} = %s AND t.token_hash = %s AND t.revoked_at IS NULL"
    )


def token_job(hashed: str, job_id: uuid.UUID) -> Job | None:
    """The job, if the working token with this hash may see it, checked in one prebuilt statement.

    The job comes with `token_last_used_at`, the token's last use. None when
    the token does not work or the job is not its owner's. Plain SQL through
    raw(): the ORM's compiler took more time than the statement saves.
    """
    pk = Job._meta.pk.get_db_prep_value(job_id, connection)
    job = next(iter(Job.objects.raw(_job_sql(connection.vendor), [pk, hashed])), None)
    if job is not None and connection.vendor == "sqlite" and job.token_last_used_at is not None:
        # SQLite hands a column the model does not know back unconverted: in UTC, without its zone.
        used = job.token_last_used_at
        job.token_last_used_at = (parse_datetime(used) if isinstance(used, str) else used).replace(tzinfo=UTC)
    return job


def _working_token(hashed: str) -> ApiToken | None:
    """The working token with this hash, in one query and without building a queryset.

    Every Bearer request but a poll (web.selectors.job_get_by_token) runs this before
    anything else: a plain cursor, because the ORM's queryset cost three times the
    query (README, Benchmarks).
    """
    fields = ApiToken._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(ApiToken._meta.db_table)
    sql = f"SELECT {columns} FROM {table} WHERE token_hash = %s AND revoked_at IS NULL"  # noqa: S608 - ours
    if connection.vendor != "postgresql":
        # SQLite hands back datetimes as text: let the ORM convert them.
        return next(iter(ApiToken.objects.raw(sql, [hashed])), None)
    with connection.cursor() as cursor:
        cursor.execute(sql, [hashed])
        row = cursor.fetchone()
    return None if row is None else ApiToken.from_db(connection.alias, [f.attname for f in fields], row)


def bearer_hash(token: str) -> str | None:
    """The hash to look a sent token up by, or None for what cannot be one of ours (no query needed)."""
    return token_hash(token) if token.startswith(TOKEN_PREFIX) else None


def token_use_note(*, hashed: str, last_used_at: datetime | None) -> datetime:
    """Note a working token's use now, at most once a LAST_USED_RESOLUTION; return its last use."""
    now = timezone.now()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return last_used_at
    ApiToken.objects.filter(token_hash=hashed).update(last_used_at=now)
    return now


def token_check(hashed: str) -> ApiToken | None:
    """Return the working token with this hash, or None; note when it was last used."""
    record = _working_token(hashed)
    if record is not None:
        record.last_used_at = token_use_note(hashed=hashed, last_used_at=record.last_used_at)
    return record


def checks_own_token(view):
    """Mark a view that checks a Bearer token within its own query.

    BearerTokenMiddleware then leaves the token unchecked and sets
    `request.bearer_hash` (its hash) rather than `request.api_token`; the
    view must answer 401 (INVALID_TOKEN_MESSAGE) when the token does not work.
    """
    view.checks_own_token = True
    return view
