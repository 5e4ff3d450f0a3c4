"""Webhooks: when a job ends, POST it, signed, to the job's callback_url.

Delivery runs on the worker through RQ, with retries and backoff. Each
attempt checks the URL's addresses again and connects to the address it
checked, so a name that resolved to a public address when the job was
submitted cannot be pointed at an internal one later (DNS rebinding).
No redirect is followed: a 3xx is a failed attempt, as any non-2xx is.
A delivery never changes the job's status; it is recorded in `Job.webhook`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import time
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Retry

from web.models import Job
from web.serializers import job_to_dict
from worker.messages import Message, gettext_noop
from worker.queues import QUICK, get_queue

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# Salts of secrets that belong to an owner (jobs submitted from the page), not to a token.
OWNER_SALT_PREFIX = "owner:"
SIGNATURE_HEADER = "Sentimeter-Signature"
EVENTS = {
    Job.Status.SUCCEEDED: "job.succeeded",
    Job.Status.FAILED: "job.failed",
    Job.Status.CANCELED: "job.canceled",
}
DELIVER_FUNC = "worker.webhooks.webhook_deliver"
MAX_URL_CHARS = 2000
# What is read of a receiver's answer: only its status matters.
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Sentimeter-Webhook/1"


class WebhookRefused(Exception):
    """A callback URL we will not call: not https, or an address that is not public."""

    def __init__(self, message: str, *, params: dict | None = None) -> None:
        # A template and its parameters (worker.messages), said in the reader's language by the web.
        self.params = params or {}
        self.message = message
        super().__init__(Message(message, self.params).english())


class DeliveryFailed(Exception):
    """An attempt that failed in a way worth retrying (RQ retries on any exception)."""


def webhook_secret(salt: str) -> str:
    """Derive a webhook secret from SECRET_KEY and a salt: nothing usable is stored, yet we can sign."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), b"sentimeter webhook secret " + salt.encode(), hashlib.sha256
    )
    return SECRET_PREFIX + digest.hexdigest()


def owner_webhook_secret(owner_key: str) -> str:
    """The secret of an owner's jobs submitted from the page (shown on the tokens page)."""
    return webhook_secret(OWNER_SALT_PREFIX + owner_key)


def job_webhook_secret(job: Job) -> str:
    """The secret that signs a job's webhook: its submitting token's, else its owner's."""
    if job.webhook_token is not None:
        return webhook_secret(job.webhook_token.secret_salt)
    return owner_webhook_secret(job.session_key)


def signature(secret: str, body: bytes, *, timestamp: int) -> str:
    """The Sentimeter-Signature header: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">, as Stripe signs."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Public unicast only: no private, loopback, link-local (cloud metadata), shared or reserved address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def url_check(url: object, *, allow_private: bool | None = None) -> list[str]:
    """Return the addresses a callback URL resolves to, or raise WebhookRefused saying why not.

    Every address must be public (unless WEBHOOK_ALLOW_PRIVATE): a name with
    one public and one private address is refused, since either may be used.
    """
    if allow_private is None:
        allow_private = settings.SENTIMETER["WEBHOOK_ALLOW_PRIVATE"]
    if not isinstance(url, str):
        raise WebhookRefused(gettext_noop("callback_url must be a string: an https:// URL."))
    if len(url) > MAX_URL_CHARS:
        raise WebhookRefused(
            gettext_noop("callback_url is %(chars)s characters; the limit is %(limit)s."),
            params={"chars": len(url), "limit": MAX_URL_CHARS},
        )
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise WebhookRefused(
            gettext_noop("callback_url must be an https:// URL, not %(url)s."),
            params={"url": repr(url[:100])},
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookRefused(gettext_noop("callback_url has a bad port number.")) from None
    host = parts.hostname
    if not host:
        raise WebhookRefused(gettext_noop("callback_url names no host."))
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused(
            gettext_noop("callback_url must not hold a user name or password; verify the signature instead.")
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise WebhookRefused(
            gettext_noop("callback_url's host %(host)s does not resolve."), params={"host": repr(host)}
        ) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        for address in addresses:
            if not address_allowed(ipaddress.ip_address(address.split("%", 1)[0])):
                raise WebhookRefused(
                    gettext_noop(
                        "callback_url's host %(host)s resolves to %(address)s, a private, loopback, "
                        "link-local or reserved address; webhooks go only to public addresses."
                    ),
                    params={"host": repr(host), "address": address},
                )
    return addresses


def webhook_schedule(job_id: uuid.UUID | str) -> None:
    """Deliver a job's webhook once the current transaction commits, if it has a callback_url.

    Called at each transition to a final state (they are compare-and-set, so once per job).
    """
    if Job.objects.filter(pk=job_id).exclude(callback_url="").exists():
        transaction.on_commit(functools.partial(webhook_enqueue_now, str(job_id)))


def webhook_enqueue_now(job_id: str) -> bool:
    """Put a job's webhook delivery on the quick queue now; False if Redis refused."""
    intervals = settings.SENTIMETER["WEBHOOK_RETRY_INTERVALS"]
    try:
        get_queue(QUICK).enqueue(
            DELIVER_FUNC,
            job_id,
            job_id=f"{job_id}_webhook",
            job_timeout=settings.SENTIMETER["WEBHOOK_TIMEOUT"] * 3,
            retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
            description=f"webhook of sentiment job {job_id}",
        )
    except RedisError:
        logger.exception("job %s: webhook not enqueued", job_id)
        return False
    return True


def webhook_deliver(job_id: str) -> None:
    """POST a finished job to its callback_url once; raise DeliveryFailed so RQ tries again later."""
    job = Job.objects.select_related("webhook_token").filter(pk=job_id).first()
    if job is None or not job.callback_url or job.status not in EVENTS:
        return
    record = {
        "url": job.callback_url,
        "attempts": 0,
        "last_status": None,
        "delivered_at": None,
        **(job.webhook or {}),
    }
    if record["delivered_at"]:
        return
    body = json.dumps({"event": EVENTS[job.status], "job": job_to_dict(job)}, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(job_webhook_secret(job), body, timestamp=int(time.time())),
    }
    record["attempts"] += 1
    status, error, permanent = None, None, False
    try:
        status = post(job.callback_url, body, headers)
    except WebhookRefused as exc:
        error, permanent = str(exc), True
    except (OSError, http.client.HTTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    delivered = status is not None and 200 <= status < 300
    record.update(
        last_status=status,
        last_error=error if error else (None if delivered else f"answered {status}"),
        delivered_at=timezone.now().isoformat().replace("+00:00", "Z") if delivered else None,
    )
    # Only the record changes: a delivery never changes the job's status.
    Job.objects.filter(pk=job.pk).update(webhook=record)
    if delivered:
        logger.info("job %s: webhook delivered (%s)", job_id, status)
    elif permanent:
        logger.warning("job %s: webhook refused: %s", job_id, error)
    else:
        raise DeliveryFailed(
            f"job {job_id}: webhook attempt {record['attempts']} failed: {record['last_error']}"
        )


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to a checked address of the URL's host (never following a redirect); return the status."""
    address = url_check(url)[0]
    parts = urlsplit(url)
    timeout = settings.SENTIMETER["WEBHOOK_TIMEOUT"]
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    # Connect to the address checked above, while TLS (SNI, the certificate) and Host use the name.
    conn._create_connection = lambda addr, timeout, source: socket.create_connection(
        (address, addr[1]), timeout, source
    )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status
    finally:
        conn.close()
