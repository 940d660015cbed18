"""Pseudonymous resident ids for exports: stable with one key, unlinkable without it."""

from __future__ import annotations

import hashlib
import hmac


class NoPseudonymKey(ValueError):
    """EXPORT_PSEUDONYM_KEY is not set: no export may run without it."""


def pseudonym(resident_id: int, key: str) -> str:
    """HMAC-SHA256 of the internal resident id with `key`, in hex.

    Never a phone number, a chat id or a conversation id: rotating the key changes every
    pseudonym, and without the key none can be traced back.
    """
    if not key:
        raise NoPseudonymKey(
            "set EXPORT_PSEUDONYM_KEY (for example: openssl rand -hex 32) and keep it "
            "outside the database"
        )
    return hmac.new(key.encode(), str(resident_id).encode(), hashlib.sha256).hexdigest()
