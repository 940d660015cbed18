"""What a reply to "Did this help?" says: it helped, it did not, or something else.

The intent classifier hears "not really, the one outside the school still isnt done" as
a view about schools; read as an answer, it starts with no. How a reply starts decides,
and sarcasm ("yeah right") and "still" count as no. The words are kept either way.
"""

from __future__ import annotations

import re

from bot.models import ReactionKind

HELPED, NOT_HELPED, COMMENT = ReactionKind.HELPED, ReactionKind.NOT_HELPED, ReactionKind.COMMENT

_NO = re.compile(
    r"^\W*(?:no+\b|nope|nah|naw|not\b|nothing|never|didn'?t|did not|doesn'?t|does not|"
    r"hasn'?t|has not|haven'?t|have not|isn'?t|is not|wasn'?t|still\b|worse|"
    r"yeah,? right|yeah,? sure\b.*\bnot|oh great,? another|as if\b|hardly|"
    r"(?:it|that|this)\s+(?:didn'?t|did not|doesn'?t|does not|hasn'?t|wasn'?t|isn'?t|"
    r"made no|changed nothing|made things worse)|no change|same as (?:before|ever)|"
    r"waste of|rubbish|useless|pointless|(?:what|which) (?:change|difference)|"
    r"i (?:haven'?t|have not|didn'?t|did not|don'?t) (?:seen|notice)|"
    r"(?:it'?s|its) (?:still|not|no) )",
    re.IGNORECASE,
)
_YES = re.compile(
    r"^\W*(?:y\b|yes|yeah|yea\b|yep|yup|aye|ya\b|it (?:did|has|does)|that (?:did|has)|"
    r"definitely|absolutely|certainly|of course|loads|a lot|much better|lots better|"
    r"(?:so )?much (?:better|easier)|better\b|great|brilliant|fab|fantastic|amazing|"
    r"excellent|lovely|perfect|spot on|nice one|good\b|thank|thanks|ta\b|cheers|"
    r"sort of|kind of|kinda|a (?:bit|little)|partly|somewhat|i think so|it'?s (?:better|"
    r"great|good|much better)|its (?:better|great|good|much better))",
    re.IGNORECASE,
)


def reply_kind(text: str, intent: str | None) -> ReactionKind:
    """HELPED, NOT_HELPED or COMMENT for a reply to an update, read from how it starts."""
    if _NO.match(text):
        return NOT_HELPED
    if _YES.match(text):
        return HELPED
    return {"affirm": HELPED, "deny": NOT_HELPED}.get(intent or "", COMMENT)


def has_words(text: str) -> bool:
    """Whether a reply says more than yes or no (those words are kept as a view)."""
    return len(re.findall(r"[a-z0-9']+", text.lower())) >= 4
