"""Personal details taken out of residents' free text before it leaves the system.

One function, `redact`, shared by every export and the console's views list (issue 10):
phone numbers, email addresses, web addresses, full postcodes (cut to their district) and
house numbers with a street name become visible tokens, never silently dropped. What it
cannot catch (names, descriptions of people, unusual spellings) is listed in docs/DATA.md.
"""

from __future__ import annotations

import re

from bot.postcodes import redact_full_postcodes

PHONE, EMAIL, URL, ADDRESS = "[phone]", "[email]", "[url]", "[address]"
# Views keep their redacted text (`View.text_redacted`) with the version of these rules it
# was made with; exports redact again any view of another version. Bump it whenever a
# change here (or in `redact_full_postcodes`) can change what `redact` returns, with a
# migration that redacts the views again as 0012 does: until then every export redacts
# every view itself (the same file, about twice as slow: docs/BENCHMARKS.md).
REDACTION_VERSION = 2  # 2: no address where a unit or a little word follows the number

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# Up to the next space, less the punctuation that ends a sentence or closes a bracket or
# a quote: "(see www.example.com)." keeps its ")." after the token.
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_URL_END = ".,;:!?'\")]}>"


def _url_token(match: re.Match[str]) -> str:
    url = match.group()
    return URL + url[len(url.rstrip(_URL_END)) :]


# UK numbers in their common spellings: +44 / 0044 / 0, then 9-10 digits, with spaces,
# dashes, dots or brackets between groups ("07700 900 123", "(0113) 496-0000").
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\s?44\s?(?:\(0\)\s?)?|0044\s?|\(?0)"  # the prefix
    r"(?:[\s\-.()]*\d){9,10}"  # the rest, grouped any way
    r"(?!\d)"
)
_STREET_WORDS = (
    "street|st|road|rd|avenue|ave|lane|ln|close|drive|dr|way|grove|crescent|terrace|"
    "place|court|gardens|walk|hill|row|square|mews|view|rise|parade|green|vale"
)
# Words that follow a number in what residents write, and never in a street's name: units
# ("20 min drive", "2 quid each way", "a 2 bed terrace") and little words ("im 14 and the
# only place"). Not words a street's name may hold ("7 Pound Lane", "2 All Saints Road",
# "14 Mile End Road", "5 Day Street", "1 The Green", "12 A Mill Lane"): a unit among those
# ("a 5 mile walk") is taken for an address, which errs on the side of the resident.
_NOT_A_NAME = (
    "min|mins|minute|minutes|hr|hrs|hour|hours|sec|secs|days|week|weeks|month|months|"
    "yr|yrs|year|years|times|quid|pounds|p|pence|miles|km|metre|metres|meter|meters|yard|"
    "yards|feet|bed|beds|bedroom|bedrooms|storey|floor|floors|kids|children|people|of|each|"
    "every|per|and|or|but|to|in|on|at|for|from|with|is|was|are|were|only|more|less|an|"
    "other|it|its|it's|we|i|you|they|he|she|so|then|than|til|till|until|have|has|had|get|"
    "got|go|goes|went|do|does|did|be|been|not|no|just|too|very|still|down|along|through|"
    "under|by|into|onto|around|men|women|cars|buses|doing"
)
# "12 Fern Street", "flat 3, 14a Mill Lane": a number (with an optional letter) before
# one to three words, none of those above, ending in a street word; or "number 14 on
# station lane" (not "no 42 on church road": a bus).
_NAME = rf"(?:(?!(?:{_NOT_A_NAME})\s)[a-z'-]+\s+){{1,3}}(?:{_STREET_WORDS})\b"
_ADDRESS = re.compile(
    rf"\b(?:flat\s+\d+[a-z]?,?\s+)?\d{{1,4}}[a-z]?,?\s+{_NAME}"
    rf"|\bnumber\s+\d{{1,4}}[a-z]?\s+on\s+{_NAME}",
    re.IGNORECASE,
)


_DIGIT = re.compile(r"\d")


def redact(text: str) -> str:
    """`text` with phone numbers, emails, URLs, addresses and full postcodes taken out."""
    # Each pattern only where it could match (a cheap test first): the same result.
    if "@" in text:
        text = _EMAIL.sub(EMAIL, text)
    if "://" in text or "www." in text.lower():
        text = _URL.sub(_url_token, text)
    if "0" in text or "+" in text:
        text = _PHONE.sub(PHONE, text)
    if _DIGIT.search(text) is None:
        return text  # a postcode and an address both need a digit
    text = redact_full_postcodes(text)
    return _ADDRESS.sub(ADDRESS, text)
