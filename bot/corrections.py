"""What a resident means when they correct a theme: "not X, it's Y" picks Y, never X.

A statistical classifier reads "its not safety its a roads thing" as about safety (the
word is there); negation and contrast need reading in order. Theme words come from the
catalogue (labels, descriptions and `words`), and only words that name one theme count.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from bot.themes import catalogue

# Before a theme word (up to three words back, within the clause): it is ruled out.
_NEGATORS_BEFORE = frozenset(
    "not isnt aint wasnt doesnt dont never neither nor less than instead rather".split()
)
# Right after a theme word: "safety? no, roads" (not "the park isnt safe": a view).
_NEGATORS_AFTER = frozenset("no nope nah wrong".split())
# Words that end the reach of a negation ("not safety, its roads": roads is not negated).
_CLAUSE_WORDS = frozenset("its it but more actually should so just i im".split())
# Words a negation reaches across ("not about the roads"); any other word stops it, so
# "not enough buses" rules nothing out.
_GAP_WORDS = frozenset("a an the about really under in into my for of belong to even part".split())
# Words that only frame a correction: what is left after them is worth keeping.
_FRAMING = frozenset(
    """a an the its it is was thats that this about more of thing things issue issues one
    really actually should be under put file in into not no nope nah wrong i meant mean
    than rather instead sorry oh oops like tbh please pls ok okay yes yeah so just more
    category section topic right isnt aint wasnt doesnt dont belong never neither nor less
    said say to for and or my was with at all""".split()
)
# A message that reads as a correction even without a theme word ruled out.
_MARKER = re.compile(
    r"^\W*(?:(?:no|nope|nah|sorry|oh|oops|ah|hmm)\b\W*)*"
    r"(?:actually|i meant|i mean|its more|it'?s more|more (?:of )?(?:a|an)\b|should be|"
    r"put it|file it|move it|wrong|it was more)",
    re.IGNORECASE,
)
# "no, safety", "nah its the bins": a no that answers us (not "no buses on sundays").
_NO_THEN = re.compile(r"^\W*(?:no|nope|nah)\b\s*(?:[,.!]|its\b|it'?s\b|it is\b|thats\b)", re.I)
# Words of a catalogue description that say little about a theme on their own.
_VAGUE = frozenset(
    """and for the of to do things local open people public support services street
    change quality feeling send council social care community day older clubs safe""".split()
)
SHORT_CORRECTION = 12  # words: "not X, it's Y" is short; a longer message is a new view
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PUNCT_BREAK = re.compile(r"[.;!?,]")


@dataclass(frozen=True)
class Correction:
    """What a correction says: the theme meant, those ruled out, and words to keep."""

    theme: str | None
    ruled_out: frozenset[str]
    keep_words: bool
    is_correction: bool


def _normal(word: str) -> str:
    """A word folded for matching: lower case, no apostrophe, no plural s."""
    word = word.lower().replace("'", "")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@lru_cache(maxsize=1)
def theme_words() -> dict[tuple[str, ...], str]:
    """Word sequences that name exactly one theme ("roads", "cost of living", "gp")."""
    owners: dict[tuple[str, ...], set[str]] = {}
    for theme in catalogue():
        phrases = [theme.label.replace("&", " "), *theme.words]
        singles = _TOKEN.findall(f"{theme.label} {theme.description}".lower().replace("-", " "))
        for phrase in phrases:
            key = tuple(_normal(w) for w in _TOKEN.findall(phrase.lower().replace("-", " ")))
            if key:
                owners.setdefault(key, set()).add(theme.key)
        for word in singles:
            if word not in _VAGUE and len(word) > 2:
                owners.setdefault((_normal(word),), set()).add(theme.key)
    return {words: next(iter(keys)) for words, keys in owners.items() if len(keys) == 1}


def _tokens(text: str) -> list[tuple[str, bool]]:
    """The message's words, each with whether punctuation came just before it."""
    out: list[tuple[str, bool]] = []
    position = 0
    lowered = text.lower().replace("\u2019", "'").replace("-", " ")
    for match in _TOKEN.finditer(lowered):
        broke = bool(_PUNCT_BREAK.search(lowered[position : match.start()]))
        out.append((_normal(match.group()), broke))
        position = match.end()
    return out


def _mentions(words: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, theme) for each theme phrase in `words`, longest match first."""
    lexicon = theme_words()
    longest = max((len(k) for k in lexicon), default=1)
    found, index = [], 0
    while index < len(words):
        for size in range(min(longest, len(words) - index), 0, -1):
            theme = lexicon.get(tuple(words[index : index + size]))
            if theme is not None:
                found.append((index, index + size, theme))
                index += size
                break
        else:
            index += 1
    return found


def named_themes(text: str) -> set[str]:
    """The themes that words in `text` name, each word naming one theme only."""
    return {theme for _, _, theme in _mentions([word for word, _ in _tokens(text)])}


def _negated(words: list[str], breaks: list[bool], start: int, end: int) -> bool:
    """Whether the theme phrase at words[start:end] is ruled out."""
    for back in range(start - 1, max(start - 4, -1), -1):
        if words[back] in _NEGATORS_BEFORE:
            return True
        if words[back] in _CLAUSE_WORDS or words[back] not in _GAP_WORDS or breaks[back + 1]:
            break
    following = [w for w in words[end : end + 3] if w not in {"thing", "one", "is"}]
    return bool(following) and following[0] in _NEGATORS_AFTER


def read_correction(text: str) -> Correction:
    """Read a resident's correction ("its not safety its a roads thing") in order."""
    tokens = _tokens(text)
    words = [w for w, _ in tokens]
    breaks = [b for _, b in tokens]
    mentions = [(s, e, t, _negated(words, breaks, s, e)) for s, e, t in _mentions(words)]
    meant = Counter(theme for _, _, theme, negated in mentions if not negated)
    # "not the hospital, the GP": a theme named as meant as well is not ruled out.
    ruled_out = {theme for _, _, theme, negated in mentions if negated} - set(meant)
    theme = meant.most_common(1)[0][0] if meant else None
    # Words beyond naming the theme meant (its first mention) and those ruled out.
    framing: set[int] = set()
    first = next((m for m in mentions if m[2] == theme and not m[3]), None)
    for start, end, _, negated in mentions:
        if negated or (start, end) == (first or (None, None))[:2]:
            framing.update(range(start, end))
    left = [w for i, w in enumerate(words) if i not in framing and w not in _FRAMING]
    return Correction(
        theme=theme,
        ruled_out=frozenset(ruled_out),
        keep_words=len(left) >= 2,
        is_correction=bool(
            _MARKER.match(text)
            or _NO_THEN.match(text)
            or (ruled_out and len(words) <= SHORT_CORRECTION)
        ),
    )
