"""Officers curating views: re-theme, redact words, hide (with a reason), mark answered.

Every change is audited ("view.retheme", "view.redact", "view.hide", "view.unhide",
"view.answered"), with view numbers and reasons only, never a resident's words.

- Re-theming sets the view's themes as the officer chose them (the first is its primary
  theme; none is "something else"), records that an officer set them and when, and so
  moves the view in counts, exports and targeting, which all read `view_themes`.
- Redacting replaces the chosen words with `[redacted]` in the view, in the inbox message
  it came from and in Rasa's tracker store (the conversation): the words are not kept.
- A hidden view stays in the database (the resident may ask for it, erasure removes it) but
  `visible()` leaves it out of the dashboard, counts, exports and targeting.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.db import Database
from bot.models import InboxMessage, ThemeSource, Update, UpdateView, View, ViewTheme, utcnow
from bot.services import audit
from bot.themes import is_theme
from bot.tracker_store import EVENTS, has_events_table

REDACTED = "[redacted]"
# Why an officer hides a view, in the words the console shows.
HIDE_REASONS = {
    "abusive": "abusive",
    "spam": "spam",
    "test": "a test message",
    "other": "not a view (another reason)",
}
MAX_VIEWS = 500  # views one bulk action may change
_WORD = re.compile(r"\S+")
_EDGE = "\"'()[]{}<>.,;:!?"  # kept around a redacted word: "Call [redacted], he knows"


class CurationError(ValueError):
    """A curating action that cannot be done as asked: the message says why."""


class UnknownView(CurationError):
    """There is no view with that number."""


def visible() -> ColumnElement:
    """The condition on View for views not hidden: only these are counted, exported, targeted."""
    return View.hidden_at.is_(None)


def _views(session: Session, view_ids: Sequence[int]) -> list[View]:
    """The views, in the order asked, each once; CurationError if one is unknown or too many."""
    wanted = list(dict.fromkeys(view_ids))
    if not wanted:
        raise CurationError("no view was chosen")
    if len(wanted) > MAX_VIEWS:
        raise CurationError(f"at most {MAX_VIEWS} views at once")
    found = {v.id: v for v in session.scalars(select(View).where(View.id.in_(wanted)))}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise UnknownView(f"there is no view {', '.join(missing)}")
    return [found[i] for i in wanted]


def _target(views: Sequence[View]) -> str | None:
    return f"view:{views[0].id}" if len(views) == 1 else None


# Re-theming --------------------------------------------------------------------------------


def set_themes(session: Session, view: View, themes: Sequence[str], source: str) -> None:
    """Put a view under `themes` (the first primary; none: "something else"), set by `source`."""
    keys = list(dict.fromkeys(themes))
    unknown = [key for key in keys if not is_theme(key)]
    if unknown:
        raise CurationError(f"unknown themes: {', '.join(unknown)}")
    view.theme_key = keys[0] if keys else None
    view.confidence = None  # the classifier's confidence was in the theme it chose
    view.theme_source = source  # sets theme_set_at too (bot.models)
    session.execute(delete(ViewTheme).where(ViewTheme.view_id == view.id))
    session.add_all(
        ViewTheme(view_id=view.id, theme_key=key, confidence=None, rank=rank)
        for rank, key in enumerate(keys)
    )
    session.flush()


def retheme(
    session: Session,
    view_ids: Sequence[int],
    themes: Sequence[str],
    *,
    actor: str,
    remote_addr: str | None = None,
) -> int:
    """An officer puts views under `themes` (audited); returns how many views changed."""
    views = _views(session, view_ids)
    changed = 0
    for view in views:
        before = [view.theme_key] if view.theme_key else []
        before += [
            key
            for key in session.scalars(
                select(ViewTheme.theme_key)
                .where(ViewTheme.view_id == view.id)
                .order_by(ViewTheme.rank)
            )
            if key not in before
        ]
        set_themes(session, view, themes, ThemeSource.OFFICER)
        changed += before != list(dict.fromkeys(themes))
    audit.record(
        session,
        actor=actor,
        action="view.retheme",
        target=_target(views),
        detail={"views": [v.id for v in views], "themes": list(dict.fromkeys(themes))},
        remote_addr=remote_addr,
    )
    return changed


# Hiding ------------------------------------------------------------------------------------


def hide(
    session: Session,
    view_ids: Sequence[int],
    reason: str,
    *,
    actor: str,
    now: datetime | None = None,
    remote_addr: str | None = None,
) -> int:
    """Hide views for `reason` (a HIDE_REASONS key), audited; returns how many were shown."""
    if reason not in HIDE_REASONS:
        raise CurationError(f"the reason must be one of {', '.join(HIDE_REASONS)}")
    views = _views(session, view_ids)
    now = now or utcnow()
    newly = [v for v in views if v.hidden_at is None]
    for view in views:
        view.hidden_reason = reason
        if view.hidden_at is None:
            view.hidden_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="view.hide",
        target=_target(views),
        detail={"views": [v.id for v in views], "reason": reason},
        remote_addr=remote_addr,
    )
    return len(newly)


def unhide(session: Session, view_id: int, *, actor: str, remote_addr: str | None = None) -> View:
    """Show a hidden view again (audited); CurationError if it is not hidden."""
    (view,) = _views(session, [view_id])
    if view.hidden_at is None:
        raise CurationError(f"view {view_id} is not hidden")
    view.hidden_at = None
    view.hidden_reason = None
    session.flush()
    audit.record(
        session, actor=actor, action="view.unhide", target=f"view:{view_id}",
        remote_addr=remote_addr,
    )  # fmt: skip
    return view


# Marking answered --------------------------------------------------------------------------


def mark_answered(
    session: Session,
    view_ids: Sequence[int],
    update_id: int,
    *,
    actor: str,
    remote_addr: str | None = None,
) -> int:
    """Link views to the update that answers them (audited); returns how many were new.

    A draft then also reaches their residents when it is published; linking views to a
    published update sends nothing (it was sent once, when published).
    """
    update_row = session.get(Update, update_id)
    if update_row is None:
        raise CurationError(f"there is no update {update_id}")
    views = _views(session, view_ids)
    linked = set(
        session.scalars(
            select(UpdateView.view_id).where(
                UpdateView.update_id == update_id, UpdateView.view_id.in_([v.id for v in views])
            )
        )
    )
    new = [v.id for v in views if v.id not in linked]
    session.add_all(UpdateView(update_id=update_id, view_id=view_id) for view_id in new)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="view.answered",
        target=f"update:{update_id}",
        detail={"views": [v.id for v in views]},
        remote_addr=remote_addr,
    )
    return len(new)


def answering_choices(session: Session, limit: int = 50) -> list[tuple[int, str, bool]]:
    """Updates a view can be marked answered by: (id, title, published), newest first."""
    rows = session.execute(
        select(Update.id, Update.title, Update.published_at)
        .order_by(Update.created_at.desc(), Update.id.desc())
        .limit(limit)
    ).all()
    return [(update_id, title, published is not None) for update_id, title, published in rows]


# Redacting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """One word of a view's text, as the console offers it for redaction."""

    index: int
    text: str


def text_digest(text: str) -> str:
    """A short fingerprint of a view's words: the redaction form says which words it showed."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def words_of(text: str) -> list[Word]:
    """The words (runs of non-space characters) of a text, numbered from 0."""
    return [Word(i, match.group()) for i, match in enumerate(_WORD.finditer(text))]


def redacted_text(text: str, chosen: Sequence[int]) -> tuple[str, list[str]]:
    """`text` with the chosen words (by index) replaced; and the pieces that were taken out.

    Neighbouring chosen words become one `[redacted]`; punctuation around a word stays.
    """
    wanted = set(chosen)
    matches = list(_WORD.finditer(text))
    if not wanted or not wanted <= set(range(len(matches))):
        raise CurationError("choose words of the view to redact")
    out: list[str] = []
    removed: list[str] = []
    position = 0
    run_start: int | None = None  # where the current run of chosen words begins in `text`
    run_end = 0
    for i, match in enumerate(matches):
        word = match.group()
        core_start = match.start() + (len(word) - len(word.lstrip(_EDGE)))
        core_end = match.end() - (len(word) - len(word.rstrip(_EDGE)))
        if core_start >= core_end:  # punctuation only: redact it whole
            core_start, core_end = match.start(), match.end()
        if i in wanted:
            if run_start is None:
                run_start = core_start
            run_end = core_end
            continue
        if run_start is not None:
            out.append(text[position:run_start] + REDACTED)
            removed.append(text[run_start:run_end])
            position, run_start = run_end, None
    if run_start is not None:
        out.append(text[position:run_start] + REDACTED)
        removed.append(text[run_start:run_end])
        position = run_end
    out.append(text[position:])
    return "".join(out), removed


def _scrub(text: str, removed: Sequence[str]) -> str:
    for piece in sorted(removed, key=len, reverse=True):
        text = text.replace(piece, REDACTED)
    return text


def _part_of(message: str, view_text: str) -> bool:
    """Whether a message's words are (part of) the view's words, whitespace aside."""
    message = " ".join(message.split())
    return bool(message) and message in " ".join(view_text.split())


def scrub_tracker(
    connection: Connection, conversation_id: str, original: str, removed: Sequence[str]
) -> int:
    """Take the removed words out of the resident's messages that made the view, in Rasa's
    tracker store; returns how many events changed."""
    if not has_events_table(connection):
        return 0
    changed = 0
    rows = connection.execute(
        select(EVENTS.c.id, EVENTS.c.data).where(
            EVENTS.c.sender_id == conversation_id, EVENTS.c.type_name == "user"
        )
    ).all()
    for event_id, data in rows:
        event = json.loads(data) if data else {}
        said = event.get("text") or ""
        if not _part_of(said, original) or not any(piece in said for piece in removed):
            continue
        event["text"] = _scrub(said, removed)
        parsed = event.get("parse_data")
        if isinstance(parsed, dict) and isinstance(parsed.get("text"), str):
            parsed["text"] = _scrub(parsed["text"], removed)
        connection.execute(
            update(EVENTS).where(EVENTS.c.id == event_id).values(data=json.dumps(event))
        )
        changed += 1
    return changed


def redact_view(
    session: Session,
    view_id: int,
    chosen: Sequence[int],
    *,
    actor: str,
    expected: str | None = None,
    now: datetime | None = None,
    remote_addr: str | None = None,
) -> tuple[View, str, list[str]]:
    """Replace chosen words of a view (and of its inbox message) with `[redacted]`, audited.

    `expected`: the `text_digest` of the words the officer chose from (CurationError if the
    view changed since).
    Returns the view, its words before, and the pieces taken out (for `scrub_tracker`).
    """
    (view,) = _views(session, [view_id])
    original = view.text
    if expected is not None and text_digest(original) != expected:
        raise CurationError("the view's words changed meanwhile: choose the words again")
    view.text, removed = redacted_text(original, chosen)
    view.redacted_at = now or utcnow()
    if view.inbox_id is not None:
        message = session.get(InboxMessage, view.inbox_id)
        if message is not None and _part_of(message.text, original):
            message.text = _scrub(message.text, removed)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="view.redact",
        target=f"view:{view_id}",
        detail={"words": len(set(chosen))},
        remote_addr=remote_addr,
    )
    return view, original, removed


def redact_everywhere(
    database: Database,
    tracker: Database,
    view_id: int,
    chosen: Sequence[int],
    *,
    actor: str,
    expected: str | None = None,
    remote_addr: str | None = None,
) -> str:
    """Redact a view's chosen words in the conversation and in our tables; the new text.

    The tracker store goes first: if our transaction then fails, the view still has its
    words and redacting it again finishes the job (scrubbing the conversation twice is
    harmless), as erasure does.
    """
    with database.transaction() as session:
        (view,) = _views(session, [view_id])
        original, conversation_id = view.text, view.conversation_id
    if expected is not None and text_digest(original) != expected:
        raise CurationError("the view's words changed meanwhile: choose the words again")
    _, removed = redacted_text(original, chosen)  # a wrong choice changes nothing
    with tracker.engine.begin() as connection:
        scrub_tracker(connection, conversation_id, original, removed)
    with database.transaction() as session:
        view, _, _ = redact_view(
            session, view_id, chosen, actor=actor, expected=text_digest(original),
            remote_addr=remote_addr,
        )  # fmt: skip
        return view.text
