"""Retention: what is kept, and for how long (`engage retention run`, and daily by the scheduler).

Each rule is one function that works in batches of `batch_size` rows, one transaction per
batch, and returns how many rows it changed. A run that is stopped half-way (even by
kill -9) leaves every batch either done or untouched, and the next run finishes the rest;
a second run straight after the first changes nothing.

- View texts older than VIEW_TEXT_RETENTION_MONTHS are emptied, and the view's time is
  cut to the first instant of its month (UTC). Theme, area, channel and month stay, so
  counts per theme and month do not change.
- Rasa's tracker events older than CONVERSATION_RETENTION_MONTHS are deleted.
- Residents who never consented or refused: their tracker events and processed inbox
  messages older than UNCONSENTED_RETENTION_DAYS are deleted.
- Operational records older than OPERATIONAL_RETENTION_DAYS are deleted: processed inbox
  messages, inbound and outbound message records, failed sign-ins, and update messages that
  are finished (never queued or being sent). An update message a resident reacted to is
  kept (deleting it would delete the reaction) with its provider id cleared.
"""

from __future__ import annotations

import calendar
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.db import Database
from bot.models import (
    ConsentAnswer,
    InboundMessage,
    InboxMessage,
    InboxStatus,
    LoginFailure,
    OutboundMessage,
    OutboxMessage,
    OutboxStatus,
    Resident,
    UpdateReaction,
    View,
    redacted_columns,
)
from bot.services import audit
from bot.settings import Settings
from bot.tracker_store import EVENTS, has_events_table

logger = logging.getLogger(__name__)

BATCH = 1000
ACTION = "retention.run"
# Never PENDING or REPLYING: still being handled.
PROCESSED_INBOX = (InboxStatus.DONE, InboxStatus.FAILED)
# Update messages whose sending is over; QUEUED and SENDING are never touched.
FINISHED_OUTBOX = tuple(
    s for s in OutboxStatus if s not in (OutboxStatus.QUEUED, OutboxStatus.SENDING)
)

_VIEWS = View.__table__
_INBOX = InboxMessage.__table__
_OUTBOX = OutboxMessage.__table__
_REACTIONS = UpdateReaction.__table__


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier, in UTC (clamped to month end)."""
    moment = moment.astimezone(timezone.utc)
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def month_start(moment: datetime) -> datetime:
    """The first instant (UTC) of the month `moment` falls in."""
    return moment.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _in_batches(
    database: Database,
    columns: tuple[Any, ...],
    condition: ColumnElement,
    batch_size: int,
    apply: Callable[[Session, list[Any]], int],
) -> int:
    """Pick up to `batch_size` rows (`columns`, the id first) oldest id first, `apply`, commit."""
    id_column = columns[0]
    total, after = 0, 0
    while True:
        with database.transaction() as session:
            rows = session.execute(
                select(*columns)
                .where(id_column > after, condition)
                .order_by(id_column)
                .limit(batch_size)
            ).all()
            if not rows:
                return total
            total += apply(session, rows)
        after = rows[-1][0]


def _delete_rows(table: Any, condition: ColumnElement) -> Callable[[Session, list[Any]], int]:
    """Delete the picked rows, the condition checked again as they are deleted."""

    def apply(session: Session, rows: list[Any]) -> int:
        ids = [row[0] for row in rows]
        return session.execute(delete(table).where(table.c.id.in_(ids), condition)).rowcount

    return apply


def _trim(database: Database, table: Any, condition: ColumnElement, batch_size: int) -> int:
    apply = _delete_rows(table, condition)
    return _in_batches(database, (table.c.id,), condition, batch_size, apply)


# Views ------------------------------------------------------------------------------------


def empty_old_view_texts(database: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Empty the text of views made before `cutoff`, keeping only their month; returns how many."""
    # Its redacted text too (never the words left there): `redacted_columns("")` empties it.
    condition = and_(
        _VIEWS.c.created_at < cutoff, or_(_VIEWS.c.text != "", _VIEWS.c.text_redacted != "")
    )

    def apply(session: Session, rows: list[Any]) -> int:
        by_month: dict[datetime, list[int]] = defaultdict(list)
        for view_id, created_at in rows:
            by_month[month_start(created_at)].append(view_id)
        return sum(
            session.execute(
                update(_VIEWS)
                .where(_VIEWS.c.id.in_(ids), condition)
                .values(text="", created_at=month, **redacted_columns(""))
            ).rowcount
            for month, ids in by_month.items()
        )

    columns = (_VIEWS.c.id, _VIEWS.c.created_at)
    return _in_batches(database, columns, condition, batch_size, apply)


# Rasa's tracker store ---------------------------------------------------------------------


def _delete_events(tracker: Database, condition: ColumnElement, batch_size: int) -> int:
    """Delete tracker events matching `condition`, `batch_size` per transaction (table exists)."""
    total = 0
    while True:
        with tracker.engine.begin() as connection:
            ids = (
                connection.execute(select(EVENTS.c.id).where(condition).limit(batch_size))
                .scalars()
                .all()
            )
            if not ids:
                return total
            total += connection.execute(delete(EVENTS).where(EVENTS.c.id.in_(ids))).rowcount


def delete_old_events(tracker: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Delete every tracker event from before `cutoff`; returns how many (0 without a table)."""
    with tracker.engine.connect() as connection:
        if not has_events_table(connection):
            return 0
    total, after = 0, 0
    condition = EVENTS.c.timestamp < cutoff.timestamp()
    while True:  # oldest first, by id, so each batch starts where the last one ended
        with tracker.engine.begin() as connection:
            ids = (
                connection.execute(
                    select(EVENTS.c.id)
                    .where(EVENTS.c.id > after, condition)
                    .order_by(EVENTS.c.id)
                    .limit(batch_size)
                )
                .scalars()
                .all()
            )
            if not ids:
                return total
            total += connection.execute(delete(EVENTS).where(EVENTS.c.id.in_(ids))).rowcount
        after = ids[-1]


def _unconsented() -> ColumnElement:
    return or_(Resident.consent.is_(None), Resident.consent == ConsentAnswer.REFUSED)


def delete_unconsented_events(
    database: Database, tracker: Database, cutoff: datetime, batch_size: int = BATCH
) -> int:
    """Delete tracker events before `cutoff` of residents who never consented or refused."""
    with tracker.engine.connect() as connection:
        if not has_events_table(connection):
            return 0
    total, after = 0, 0
    while True:
        with database.transaction() as session:
            rows = session.execute(
                select(Resident.id, Resident.conversation_id)
                .where(Resident.id > after, Resident.created_at < cutoff, _unconsented())
                .order_by(Resident.id)
                .limit(batch_size)
            ).all()
        if not rows:
            return total
        senders = [conversation_id for _, conversation_id in rows]
        total += _delete_events(
            tracker,
            and_(EVENTS.c.sender_id.in_(senders), EVENTS.c.timestamp < cutoff.timestamp()),
            batch_size,
        )
        after = rows[-1][0]


def delete_unconsented_inbox(database: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Delete processed inbox messages before `cutoff` of residents without consent."""
    unconsented = select(Resident.id).where(_unconsented()).scalar_subquery()
    condition = and_(
        _INBOX.c.status.in_(PROCESSED_INBOX),
        _INBOX.c.received_at < cutoff,
        _INBOX.c.resident_id.in_(unconsented),
    )
    return _trim(database, _INBOX, condition, batch_size)


# Operational records ----------------------------------------------------------------------


def trim_inbox(database: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Delete processed (done or failed) inbox messages received before `cutoff`."""
    condition = and_(_INBOX.c.status.in_(PROCESSED_INBOX), _INBOX.c.received_at < cutoff)
    return _trim(database, _INBOX, condition, batch_size)


def trim_inbound_messages(database: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Delete the records of provider messages received before `cutoff` (replay checks)."""
    table = InboundMessage.__table__
    return _trim(database, table, table.c.received_at < cutoff, batch_size)


def trim_outbound_messages(database: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Delete the records of messages handed to a provider before `cutoff`."""
    table = OutboundMessage.__table__
    return _trim(database, table, table.c.created_at < cutoff, batch_size)


def trim_login_failures(database: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Delete failed sign-ins from before `cutoff`."""
    table = LoginFailure.__table__
    return _trim(database, table, table.c.created_at < cutoff, batch_size)


def _finished_outbox(cutoff: datetime) -> ColumnElement:
    """Update messages whose sending ended (queued and sending ones never) before `cutoff`."""
    return and_(
        _OUTBOX.c.status.in_(FINISHED_OUTBOX),
        _OUTBOX.c.created_at < cutoff,
        or_(_OUTBOX.c.sent_at.is_(None), _OUTBOX.c.sent_at < cutoff),
    )


def _has_reactions() -> ColumnElement:
    return exists(select(_REACTIONS.c.id).where(_REACTIONS.c.outbox_id == _OUTBOX.c.id))


def trim_outbox(database: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Delete finished update messages from before `cutoff` that no resident reacted to."""
    condition = and_(_finished_outbox(cutoff), ~_has_reactions())
    return _trim(database, _OUTBOX, condition, batch_size)


def clear_reacted_outbox(database: Database, cutoff: datetime, batch_size: int = BATCH) -> int:
    """Clear the provider id of finished update messages before `cutoff` kept for reactions."""
    condition = and_(_finished_outbox(cutoff), _has_reactions(), _OUTBOX.c.provider_id.is_not(None))

    def apply(session: Session, rows: list[Any]) -> int:
        ids = [row[0] for row in rows]
        return session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id.in_(ids), condition).values(provider_id=None)
        ).rowcount

    return _in_batches(database, (_OUTBOX.c.id,), condition, batch_size, apply)


# One run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleCount:
    """What one rule did: its key (in the audit log), what it means, and how many rows."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class RetentionReport:
    """What a retention run did, rule by rule."""

    rules: tuple[RuleCount, ...]

    def counts(self) -> dict[str, int]:
        """Rows changed per rule key (what the audit log records)."""
        return {rule.key: rule.count for rule in self.rules}

    def lines(self) -> list[str]:
        """One line per rule, e.g. "view texts removed (older than 24 months): 12"."""
        return [f"{rule.label}: {rule.count}" for rule in self.rules]

    @property
    def total(self) -> int:
        """Rows changed by every rule together."""
        return sum(rule.count for rule in self.rules)


def run_retention(
    database: Database,
    tracker_database: Database,
    settings: Settings,
    now: datetime,
    actor: str,
    batch_size: int = BATCH,
) -> RetentionReport:
    """Apply every retention rule at `now` (aware), audit the counts, and report them."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    views_months = settings.view_text_retention_months
    events_months = settings.conversation_retention_months
    days = settings.unconsented_retention_days
    ops = settings.operational_retention_days
    view_cutoff = months_before(now, views_months)
    events_cutoff = months_before(now, events_months)
    unconsented_cutoff = now - timedelta(days=days)
    ops_cutoff = now - timedelta(days=ops)
    steps: list[tuple[str, str, Callable[[], int]]] = [
        ("view_texts", f"view texts removed (older than {views_months} months)",
         lambda: empty_old_view_texts(database, view_cutoff, batch_size)),
        ("conversation_events", f"conversation events deleted (older than {events_months} months)",
         lambda: delete_old_events(tracker_database, events_cutoff, batch_size)),
        ("unconsented_events",
         f"conversation events of residents without consent deleted (older than {days} days)",
         lambda: delete_unconsented_events(
             database, tracker_database, unconsented_cutoff, batch_size)),
        ("unconsented_inbox",
         f"inbox messages of residents without consent deleted (older than {days} days)",
         lambda: delete_unconsented_inbox(database, unconsented_cutoff, batch_size)),
        ("inbox", f"processed inbox messages deleted (older than {ops} days)",
         lambda: trim_inbox(database, ops_cutoff, batch_size)),
        ("inbound_messages", f"inbound message records deleted (older than {ops} days)",
         lambda: trim_inbound_messages(database, ops_cutoff, batch_size)),
        ("outbound_messages", f"outbound message records deleted (older than {ops} days)",
         lambda: trim_outbound_messages(database, ops_cutoff, batch_size)),
        ("outbox", f"update message records deleted (older than {ops} days)",
         lambda: trim_outbox(database, ops_cutoff, batch_size)),
        ("outbox_reacted",
         f"update message records kept for reactions, provider ids cleared (older than {ops} days)",
         lambda: clear_reacted_outbox(database, ops_cutoff, batch_size)),
        ("login_failures", f"failed sign-ins deleted (older than {ops} days)",
         lambda: trim_login_failures(database, ops_cutoff, batch_size)),
    ]  # fmt: skip
    rules = []
    for key, label, step in steps:
        count = step()
        rules.append(RuleCount(key, label, count))
        logger.debug("Retention: %s: %d", label, count)
    report = RetentionReport(tuple(rules))
    with database.transaction() as session:
        audit.record(session, actor=actor, action=ACTION, detail=report.counts())
    return report
