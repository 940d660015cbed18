"""The conversations themselves, turn by turn, from Rasa's tracker store.

Only residents who consented to have their views kept, and only the turns from the moment
they consented (until they withdrew, if they did). A message that raised a safeguarding
alert, and the bot's answer to it, never leave: they are for the duty officers alone. Nor
do the messages that made a view officers hid (abusive, spam, a test), nor the answers to them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.exports.filters import ExportFilter
from bot.models import ChannelIdentity, ConsentEvent, ConsentKind, Resident, View
from bot.pseudonyms import pseudonym
from bot.redaction import redact
from bot.services.safeguarding import KINDS as SAFEGUARDING_INTENTS
from bot.tracker_store import TrackerEvent, events_of, has_events_table

BATCH = 500
CONVERSATION_COLUMNS = {
    "resident": "text",
    "session": "int",
    "timestamp": "time",
    "speaker": "text",
    "text": "text",
    "intent": "text",
    "theme": "text",
    "action": "text",
}
Interval = tuple[datetime, datetime | None]


def consented_intervals(session: Session, resident_id: int) -> list[Interval]:
    """When the resident's views could be kept: from each consent to its withdrawal or STOP
    (no view is kept while they are opted out, so no turn of that time leaves either)."""
    intervals: list[Interval] = []
    start: datetime | None = None
    for created_at, kind, store_views in session.execute(
        select(ConsentEvent.created_at, ConsentEvent.kind, ConsentEvent.store_views)
        .where(ConsentEvent.resident_id == resident_id)
        .order_by(ConsentEvent.created_at, ConsentEvent.id)
    ):
        store_views = store_views and kind != ConsentKind.OPTED_OUT
        if store_views and start is None:
            start = created_at
        elif not store_views and start is not None:
            intervals.append((start, created_at))
            start = None
    if start is not None:
        intervals.append((start, None))
    return intervals


def _within(at: datetime, intervals: list[Interval]) -> bool:
    return any(start <= at and (end is None or at < end) for start, end in intervals)


def _turns(events: Iterator[TrackerEvent]) -> Iterator[dict[str, Any]]:
    """Resident and bot turns with their session number, safeguarding exchanges left out."""
    number, action, withheld = 0, "", False
    for event in events:
        if event.type == "session_started":
            number += 1
        elif event.type == "action":
            action = event.data.get("name") or ""
        elif event.type == "user":
            parsed = event.data.get("parse_data") or {}
            intent = (parsed.get("intent") or {}).get("name") or ""
            withheld = intent in SAFEGUARDING_INTENTS
            if withheld:
                continue
            themes = parsed.get("themes") or [parsed.get("theme") or {}]
            yield {
                "session": max(number, 1),
                "timestamp": event.at,
                "speaker": "resident",
                "text": event.data.get("text") or "",
                "intent": intent,
                "theme": ";".join(t["name"] for t in themes if t and t.get("name")),
                "action": None,
            }
        elif event.type == "bot" and not withheld:
            yield {
                "session": max(number, 1),
                "timestamp": event.at,
                "speaker": "bot",
                "text": event.data.get("text") or "",
                "intent": None,
                "theme": None,
                "action": action,
            }


def _hidden_texts(session: Session, resident_id: int) -> list[str]:
    """The words of the resident's views that officers hid, spaces tidied."""
    return [
        " ".join(text.split())
        for text in session.scalars(
            select(View.text).where(View.resident_id == resident_id, View.hidden_at.is_not(None))
        )
    ]


def _without_hidden(turns: list[dict[str, Any]], hidden: list[str]) -> list[dict[str, Any]]:
    """The turns less those that made a hidden view, and the bot's answers to them."""
    if not hidden:
        return turns
    kept, withheld = [], False
    for turn in turns:
        if turn["speaker"] == "resident":
            said = " ".join((turn["text"] or "").split())
            withheld = bool(said) and any(said in text for text in hidden)
        if not withheld:
            kept.append(turn)
    return kept


def _residents(session: Session, wanted: ExportFilter) -> Select:
    query = (
        select(Resident.id, Resident.conversation_id)
        .where(Resident.id.in_(select(ConsentEvent.resident_id).where(ConsentEvent.store_views)))
        .order_by(Resident.id)
    )
    if wanted.areas:
        query = query.where(Resident.area.in_(wanted.areas))
    if wanted.channel:
        query = query.where(
            Resident.id.in_(
                select(ChannelIdentity.resident_id).where(ChannelIdentity.channel == wanted.channel)
            )
        )
    return query


def conversation_rows(
    session: Session, tracker: Connection, wanted: ExportFilter, key: str
) -> Iterator[dict[str, Any]]:
    """Every exportable turn, resident by resident; `--theme` keeps sessions that raised it."""
    pseudonym(0, key)  # refuses at once, before anything is read, without a key
    if not has_events_table(tracker):
        return
    wanted_themes = set(wanted.themes)
    residents = session.execute(_residents(session, wanted).execution_options(yield_per=BATCH))
    for resident_id, conversation_id in residents:
        intervals = consented_intervals(session, resident_id)
        turns = [
            turn
            for turn in _turns(events_of(tracker, conversation_id))
            if _within(turn["timestamp"], intervals)
            and (wanted.since is None or turn["timestamp"] >= wanted.since)
            and (wanted.until is None or turn["timestamp"] < wanted.until)
        ]
        turns = _without_hidden(turns, _hidden_texts(session, resident_id))
        if wanted.themes:
            raised = {
                t["session"] for t in turns if set((t["theme"] or "").split(";")) & wanted_themes
            }
            turns = [t for t in turns if t["session"] in raised]
        resident = pseudonym(resident_id, key)
        for turn in turns:
            yield {"resident": resident, **turn, "text": redact(turn["text"])}
