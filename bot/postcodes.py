"""UK postcode districts: we keep the outward code ("LS6") and never a full postcode."""

from __future__ import annotations

import re

# Outward code formats A9, A99, AA9, AA99, A9A, AA9A. The letters follow Royal Mail's
# rules (no Q, V, X first; no I, J, Z second; no C, I, K, M, O, V in the inward code), so
# "b4 6pm" or "gr8" in a message are not taken for postcodes.
_OUTWARD = r"(?:[A-PR-UWYZ](?:[A-HK-Y]?[0-9][0-9A-Z]?))"
_INWARD = r"(?:[0-9][ABD-HJLNP-UW-Z]{2})"
_OUTWARD_ONLY = re.compile(rf"^{_OUTWARD}$")
_AREA = re.compile(r"^[A-Z]{1,2}")
# The UK's postcode areas (the letters of an outward code).
POSTCODE_AREAS = frozenset(
    """AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL
    DN DT DY E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT
    KW KY L LA LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR
    RG RH RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA
    WC WD WF WN WR WS WV YO ZE""".split()
)
_IN_TEXT = re.compile(rf"\b({_OUTWARD})(?:\s*({_INWARD}))?\b", re.IGNORECASE)


def outward_code(text: str) -> str | None:
    """The postcode district in `text` ("ls6 3ab" -> "LS6"), or None if there is none."""
    for match in _IN_TEXT.finditer(text):
        candidate = match.group(1).upper()
        area = _AREA.match(candidate)
        if _OUTWARD_ONLY.match(candidate) and area and area.group(0) in POSTCODE_AREAS:
            return candidate
    return None


def redact_full_postcodes(text: str) -> str:
    """Replace every full postcode in `text` by its district ("LS6 3AB" -> "LS6")."""

    def _keep_outward(match: re.Match[str]) -> str:
        return match.group(1) if match.group(2) else match.group(0)

    return _IN_TEXT.sub(_keep_outward, text)
