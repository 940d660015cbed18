"""SMS length rules: GSM-7 vs UCS-2 characters and how many segments a text takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# The GSM 03.38 default alphabet, and its extension table (each costs two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

SINGLE_GSM7, MULTI_GSM7 = 160, 153  # septets in one segment / per segment when split
SINGLE_UCS2, MULTI_UCS2 = 70, 67  # UTF-16 code units likewise
MAX_SEGMENTS = 2  # our limit for any one bot message


# What Word, Outlook and phones type for plain punctuation: each is outside GSM-7 and
# would make a message UCS-2 (70 characters a segment instead of 160). The console's live
# preview is given this table (bot/console/updates.py).
TYPOGRAPHIC = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}  # fmt: skip
_PLAIN = str.maketrans(TYPOGRAPHIC)


def plain_text(text: str) -> str:
    """`text` as an SMS carries it: curly quotes, dashes and ellipses as plain GSM-7 ones,
    single spaces."""
    return " ".join(text.translate(_PLAIN).split())


def is_gsm7(text: str) -> bool:
    """True if every character of `text` can be sent in the GSM-7 alphabet."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def gsm7_length(text: str) -> int:
    """Septets `text` takes in GSM-7 (extension characters count twice)."""
    return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)


def ucs2_length(text: str) -> int:
    """UTF-16 code units `text` takes in UCS-2 (characters beyond the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> tuple[str, int]:
    """The encoding ("GSM-7" or "UCS-2") and number of SMS segments `text` needs."""
    if is_gsm7(text):
        length, single, multi, encoding = gsm7_length(text), SINGLE_GSM7, MULTI_GSM7, "GSM-7"
    else:
        length, single, multi, encoding = ucs2_length(text), SINGLE_UCS2, MULTI_UCS2, "UCS-2"
    if length <= single:
        return encoding, 1 if length else 0
    return encoding, -(-length // multi)


def split_text(text: str, limit: int, length: Callable[[str], int] = len) -> list[str]:
    """Split `text` into parts of at most `limit` (by `length`), at spaces where possible.

    Parts keep their order; a word longer than `limit` is cut between characters, never
    inside one.
    """
    parts: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if length(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        current = ""
        while length(word) > limit:  # a very long "word": cut it between characters
            cut = len(word)
            while length(word[:cut]) > limit:
                cut -= 1
            parts.append(word[:cut])
            word = word[cut:]
        current = word
    if current or not parts:
        parts.append(current)
    return [p for p in parts if p] or [""]


def split_sms(text: str) -> list[str]:
    """`text` as single-segment SMS parts, in order (160 GSM-7 or 70 UCS-2 units each)."""
    if is_gsm7(text):
        return split_text(text, SINGLE_GSM7, gsm7_length)
    return split_text(text, SINGLE_UCS2, ucs2_length)


def numbered(text: str, buttons: Sequence[Mapping[str, Any]]) -> str:
    """A question with its buttons as numbered options: "... 1 Housing  2 Something else".

    A 1-to-5 scale (buttons titled "1".."5") is left as the question words it.
    """
    if not buttons or all(b.get("title") == str(i) for i, b in enumerate(buttons, start=1)):
        return text
    options = "  ".join(f"{i} {b.get('title', '')}" for i, b in enumerate(buttons, start=1))
    return f"{text}\n{options}"


def sms_count(text: str, buttons: Sequence[Mapping[str, Any]] = ()) -> int:
    """How many SMS a bot message becomes on a phone without buttons."""
    return len(split_sms(numbered(text, buttons)))
