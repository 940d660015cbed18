"""Carrier-standard SMS keywords, recognised exactly, before any guessing by NLU."""

from __future__ import annotations

import re

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
# YES also re-subscribes an opted-out resident, but it is an ordinary "yes" otherwise,
# so it is left to the dialogue (which knows whether the resident opted out).
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

_EDGE_PUNCTUATION = re.compile(r"^[\s.!,;:'\"-]+|[\s.!,;:'\"-]+$")


def normalise(text: str) -> str:
    """Upper-case `text` without surrounding whitespace and punctuation ("stop." -> "STOP")."""
    return _EDGE_PUNCTUATION.sub("", text).upper()


def keyword_intent(text: str) -> str | None:
    """The intent a whole-message keyword stands for ("opt_out", "opt_in", "help"), or None."""
    word = normalise(text)
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    if word in HELP_KEYWORDS:
        return "help"
    return None
