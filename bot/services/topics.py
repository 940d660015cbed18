"""Emerging topics: views that fit no theme well, grouped by meaning with the project's own
sentence encoder (all-MiniLM-L6-v2, bot/nlu/encoder.py), for officers to name as a new
theme (a proposal file for review) or merge into an existing one.

A view fits no theme well when it has none (the resident picked "something else", the
classifier found none, or an officer took its theme away) or the classifier was unsure
(below THEME_CONFIDENCE_THRESHOLD). Hidden views, bare ratings and emptied texts are left
out. Grouping is deterministic for the same data: views in id order, the densest
unassigned view starts each group, ties go to the smaller id.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import yaml
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot.models import ThemeSource, View, utcnow
from bot.redaction import redact
from bot.services import audit
from bot.services.curation import retheme, visible
from bot.sms import is_gsm7
from bot.themes import is_theme, theme_keys

PERIOD_DAYS = 90  # views this recent are grouped
MAX_VIEWS = 1000  # the newest candidates at most (encoding costs about 10 ms a view)
SIMILAR = 0.4  # cosine similarity to the view a group starts from (all-MiniLM-L6-v2)
MIN_SIZE = 3  # smaller groups are not topics
TYPICAL = 3  # messages shown for each topic
TREND_DAYS = 30  # the trend compares the last 30 days with the 30 before
Encode = Callable[[Sequence[str]], np.ndarray]  # texts -> L2-normalised rows
_WORD = re.compile(r"[a-z][a-z']{2,}")
_STOP = frozenset(
    """the and for are but not you all any can had her was one our out has him his how
    its may new now see two who did get got let put say she too use that with have this
    will your from they know want been good much some time very when come here just like
    long make many more only over such take than them well were what there their would
    about could other which these those into because really need needs should dont cant
    im ive its it's don't can't i'm i've thats that's theres there's also still even every
    area people please thing things lot lots something someone anything nothing""".split()
)
_KEY = re.compile(r"^[a-z][a-z0-9_]{2,31}$")


class TopicError(ValueError):
    """A topic action that cannot be done as asked: the message says why."""


@dataclass(frozen=True)
class Candidate:
    """A view that fits no theme well."""

    view_id: int
    text: str
    area: str | None
    created_at: datetime


@dataclass(frozen=True)
class Topic:
    """A group of views with one meaning that no theme covers yet."""

    key: str  # "T<smallest view id>": stable while the group keeps its first view
    view_ids: tuple[int, ...]  # most typical first
    typical: tuple[str, ...]  # the most typical messages, redacted
    words: tuple[str, ...]  # words most of its messages use (a name to start from)
    districts: tuple[tuple[str, int], ...]  # most views first ("unknown": no district)
    recent: int  # views in the last TREND_DAYS days
    before: int  # views in the TREND_DAYS days before those

    @property
    def size(self) -> int:
        """How many views it holds."""
        return len(self.view_ids)

    @property
    def trend(self) -> str:
        """Rising, falling or steady: the last TREND_DAYS days against the ones before."""
        if self.recent > self.before * 1.5 and self.recent - self.before >= 2:
            return "rising"
        if self.before > self.recent * 1.5 and self.before - self.recent >= 2:
            return "falling"
        return "steady"

    def as_dict(self) -> dict:
        """The topic as plain data (for `engage topics --json`)."""
        return {
            "key": self.key,
            "size": self.size,
            "words": list(self.words),
            "typical": list(self.typical),
            "districts": dict(self.districts),
            "trend": self.trend,
            "recent": self.recent,
            "before": self.before,
            "views": list(self.view_ids),
        }


def candidates(
    session: Session,
    *,
    low_confidence: float,
    now: datetime | None = None,
    days: int = PERIOD_DAYS,
    limit: int = MAX_VIEWS,
) -> list[Candidate]:
    """The views of the last `days` days that fit no theme well, oldest first."""
    now = now or utcnow()
    unsure = and_(View.theme_source == ThemeSource.MODEL, View.confidence < low_confidence)
    rows = session.execute(
        select(View.id, View.text, View.area, View.created_at)
        .where(
            View.created_at >= now - timedelta(days=days),
            View.created_at <= now,
            visible(),
            View.rating.is_(None),
            View.text != "",
            or_(View.theme_key.is_(None), unsure),
        )
        .order_by(View.created_at.desc(), View.id.desc())
        .limit(limit)
    ).all()
    return sorted((Candidate(*row) for row in rows), key=lambda c: c.view_id)


def group(
    vectors: np.ndarray, similar: float = SIMILAR, min_size: int = MIN_SIZE
) -> list[list[int]]:
    """Rows of `vectors` (L2-normalised) in groups of at least `min_size`, largest first.

    Each group starts at the unassigned row with the most unassigned rows at least `similar`
    to it (ties: the first), and takes those rows.
    """
    if len(vectors) == 0:
        return []
    close = (vectors @ vectors.T) >= similar
    free = np.ones(len(vectors), dtype=bool)
    groups: list[list[int]] = []
    while free.any():
        counts = np.where(free, (close & free[None, :]).sum(axis=1), -1)
        start = int(np.argmax(counts))  # the first of the largest
        members = np.flatnonzero(close[start] & free)
        if len(members) < min_size:
            break
        groups.append([int(i) for i in members])
        free[members] = False
    return groups


def _words(texts: Sequence[str], size: int = 3) -> tuple[str, ...]:
    """The words most of the texts use (each text counted once per word)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(_WORD.findall(text.lower())) - _STOP)
    return tuple(word for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size])


def find_topics(
    session: Session,
    encode: Encode,
    *,
    low_confidence: float,
    now: datetime | None = None,
    days: int = PERIOD_DAYS,
    similar: float = SIMILAR,
    min_size: int = MIN_SIZE,
) -> list[Topic]:
    """Emerging topics among the views that fit no theme well, largest first."""
    now = now or utcnow()
    found = candidates(session, low_confidence=low_confidence, now=now, days=days)
    if len(found) < min_size:
        return []
    vectors = np.asarray(encode([" ".join(c.text.split()) for c in found]), dtype=np.float32)
    recent_from, before_from = (
        now - timedelta(days=TREND_DAYS),
        now - timedelta(days=2 * TREND_DAYS),
    )
    topics = []
    for members in group(vectors, similar, min_size):
        centre = vectors[members].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        closeness = vectors[members] @ centre
        ranked = [
            found[members[i]]
            for i in sorted(
                range(len(members)), key=lambda i: (-closeness[i], found[members[i]].view_id)
            )
        ]
        districts = Counter(c.area or "unknown" for c in ranked)
        topics.append(
            Topic(
                key=f"T{min(c.view_id for c in ranked)}",
                view_ids=tuple(c.view_id for c in ranked),
                typical=tuple(redact(" ".join(c.text.split())) for c in ranked[:TYPICAL]),
                words=_words([c.text for c in ranked]),
                districts=tuple(sorted(districts.items(), key=lambda kv: (-kv[1], kv[0]))),
                recent=sum(c.created_at >= recent_from for c in ranked),
                before=sum(before_from <= c.created_at < recent_from for c in ranked),
            )
        )
    return sorted(topics, key=lambda t: (-t.size, t.key))


# Acting on a topic -----------------------------------------------------------------------------


def merge_topic(
    session: Session,
    view_ids: Sequence[int],
    theme_key: str,
    *,
    actor: str,
    remote_addr: str | None = None,
) -> int:
    """Put a topic's views under an existing theme (as an officer's re-theme, audited)."""
    if not is_theme(theme_key):
        raise TopicError(f"unknown theme {theme_key!r}")
    return retheme(session, view_ids, [theme_key], actor=actor, remote_addr=remote_addr)


def training_examples(texts: Sequence[str]) -> list[str]:
    """Texts as Rasa NLU examples: redacted, on one line, each once, no entity markup."""
    examples = []
    for text in texts:
        line = redact(" ".join(text.split()))
        line = re.sub(r"\](?=[(\[{])", "] ", line)  # "[phone](x)" would read as an entity
        if line and line not in examples:
            examples.append(line)
    return examples


def nlu_yaml(examples: Mapping[str, Sequence[str]], note: str) -> str:
    """Training examples by theme in Rasa's NLU YAML format (as data/nlu/themes/), after a
    comment (`note`)."""
    lines = [f"# {line}" if line else "#" for line in note.splitlines()]
    lines += ['version: "3.1"', "nlu:" if any(examples.values()) else "nlu: []"]
    for theme_key, texts in examples.items():
        if not texts:
            continue
        lines += ["- intent: share_view", "  metadata:", f"    theme: {theme_key}",
                  "  examples: |"]  # fmt: skip
        lines += [f"    - {text}" for text in texts]
    return "\n".join(lines) + "\n"


def corrected_examples(session: Session, since: datetime | None = None) -> dict[str, list[str]]:
    """Every view whose theme a resident or officer set (since `since`), as training-example
    candidates under its primary theme, in catalogue order; hidden views are left out."""
    query = (
        select(View.theme_key, View.text)
        .where(
            View.theme_source.in_((ThemeSource.RESIDENT, ThemeSource.OFFICER)),
            View.theme_key.is_not(None),
            View.rating.is_(None),
            View.text != "",
            visible(),
        )
        .order_by(View.id)
    )
    if since is not None:
        query = query.where(View.theme_set_at >= since)
    texts: dict[str, list[str]] = {}
    for theme_key, text in session.execute(query):
        texts.setdefault(theme_key, []).append(text)
    order = {key: n for n, key in enumerate(theme_keys())}
    return {
        key: training_examples(texts[key])
        for key in sorted(texts, key=lambda k: order.get(k, len(order)))
    }


def propose_theme(
    session: Session,
    view_ids: Sequence[int],
    *,
    key: str,
    label: str,
    description: str,
    directory: Path,
    actor: str,
    now: datetime | None = None,
    remote_addr: str | None = None,
) -> Path:
    """Write a proposed theme (its catalogue entry and its views as training-example
    candidates) to `directory`/<key>/ for review, audited; returns that folder.

    Nothing changes in data/: adding the theme is a reviewed change followed by training.
    """
    key, label = key.strip().lower(), " ".join(label.split())
    description = " ".join(description.split())
    if not _KEY.match(key):
        raise TopicError("the key must be 3-32 lower-case letters, digits or _, like bus_shelters")
    if is_theme(key):
        raise TopicError(f"there is a theme {key} already: merge the topic into it instead")
    if not label or len(label) > 40 or not is_gsm7(label):
        raise TopicError("the label must be 1-40 plain characters (it appears in SMS replies)")
    if not description:
        raise TopicError("say in a sentence what the theme covers")
    texts = session.scalars(
        select(View.text).where(View.id.in_(list(view_ids)), visible()).order_by(View.id)
    ).all()
    examples = training_examples(texts)
    if not examples:
        raise TopicError("the topic has no views left")
    folder = directory / key
    folder.mkdir(parents=True, exist_ok=True)
    when = f"{(now or utcnow()):%Y-%m-%d}"
    entry = {"themes": [{"key": key, "label": label, "description": description}]}
    (folder / "theme.yml").write_text(
        f"# Proposed on {when} from {len(examples)} residents' messages (engage topics).\n"
        "# To adopt it, add this entry to data/themes.yml under `themes:`.\n"
        + yaml.safe_dump(entry, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    note = (
        f"Training-example candidates for the proposed theme {key} ({when}), redacted.\n"
        f"Review them, then move them to data/nlu/themes/{key}.yml and retrain (make train)."
    )
    (folder / "nlu.yml").write_text(nlu_yaml({key: examples}, note), encoding="utf-8")
    audit.record(
        session,
        actor=actor,
        action="topic.propose",
        target=f"theme:{key}",
        detail={"views": len(examples), "label": label},
        remote_addr=remote_addr,
    )
    return folder
