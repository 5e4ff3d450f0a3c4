"""Webhooks: the secrets that sign them."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# Salts of secrets that belong to an owner (jobs submitted from the page), not to a token.
OWNER_SALT_PREFIX = "owner:"


def webhook_secret(salt: str) -> str:
    """Derive a webhook secret from SECRET_KEY and a salt: nothing usable is stored, yet we can sign."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), b"sentimeter webhook secret " + salt.encode(), hashlib.sha256
    )
    return SECRET_PREFIX + digest.hexdigest()


def owner_webhook_secret(owner_key: str) -> str:
    """The secret of an owner's jobs submitted from the page (shown on the tokens page)."""
    return webhook_secret(OWNER_SALT_PREFIX + owner_key)
