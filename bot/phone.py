"""Phone numbers: E.164 normalisation and masking for logs."""

from __future__ import annotations

import re

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_TRUNK_AFTER_CODE = re.compile(r"^(\s*(?:\+|00)\s*\d{1,3}[\s.-]*)\(\s*0\s*\)")


class InvalidNumber(ValueError):
    """Not a phone number we can text."""


def to_e164(raw: str, default_country_code: str = "44") -> str:
    """Normalise "07700 900123", "+44 7700-900123", "+44 (0)7700 900123" or "00447700900123"
    to "+447700900123"."""
    # "+44 (0)7700...": the trunk prefix, for callers at home, never dialled after the
    # country code. Alone ("(0)7700 900123") it is the number's own leading 0.
    raw = _TRUNK_AFTER_CODE.sub(r"\1", raw or "")
    digits = re.sub(r"[\s().-]", "", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = f"+{default_country_code}{digits[1:]}"
    elif not digits.startswith("+"):
        digits = "+" + digits
    kept_zero = f"+{default_country_code}0"
    if digits.startswith(kept_zero):  # "+44 07700 ...": the trunk 0 kept, the same slip
        digits = f"+{default_country_code}" + digits[len(kept_zero) :]
    if not _E164.match(digits):
        raise InvalidNumber("not a phone number")
    return digits


def mask(address: str) -> str:
    """All but the last 3 characters hidden: safe to log ("+447700900123" -> "**********123")."""
    return "*" * max(len(address) - 3, 0) + address[-3:]
