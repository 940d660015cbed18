"""Safeguarding: messages that may mean someone is in danger, kept apart from views.

A resident who writes about danger now, self-harm, abuse or a crime to report is
signposted at once (the dialogue's job); the message is recorded here as an alert, never
as a view, so it appears in no view list, count or export. Officers with the
safeguarding permission see the alerts on their own console page and mark them handled
(audited), or, when one is plainly an ordinary view ("the playground is a death trap"),
keep it as that view under the theme they choose, so that no resident's view is lost to a
false alarm; the duty inbox can be emailed that one arrived, without its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.models import Resident, SafeguardingAlert, SafeguardingKind, ThemeSource, View, utcnow
from bot.services import audit
from bot.services.curation import set_themes
from bot.services.inbox import add_once, made_from
from bot.services.residents import get_or_create_resident, lock_resident
from bot.services.views import NotAllowed, store_view

# Plain strings (also the NLU's intent names: bot/nlu/safeguarding.py).
KINDS = tuple(kind.value for kind in SafeguardingKind)
LABELS = {
    SafeguardingKind.DANGER_NOW: "Danger now",
    SafeguardingKind.SELF_HARM: "Risk to life (self-harm, suicide)",
    SafeguardingKind.ABUSE: "Abuse or domestic abuse",
    SafeguardingKind.CRIME_REPORT: "Crime to report",
}


class NotAnAlert(LookupError):
    """No such alert."""


class AlreadyHandled(Exception):
    """The alert was handled already: it cannot be kept as a view now."""


@dataclass(frozen=True)
class AlertCounts:
    """How many alerts are waiting for an officer, and in all."""

    open: int
    total: int


def record_alert(
    session: Session,
    conversation_id: str,
    *,
    kind: str,
    text: str,
    channel: str,
    confidence: float | None = None,
    inbox_id: int | None = None,
) -> SafeguardingAlert:
    """Record a safeguarding message (with or without consent: a duty of care); idempotent."""
    if kind not in KINDS:
        raise ValueError(f"unknown safeguarding kind {kind!r}")
    existing = made_from(session, SafeguardingAlert, inbox_id)
    if existing is not None:
        return existing
    resident = get_or_create_resident(session, conversation_id, channel)
    alert = SafeguardingAlert(
        resident_id=resident.id,
        kind=kind,
        text=text.strip()[:2000],
        channel=channel,
        confidence=confidence,
        inbox_id=inbox_id,
    )
    return add_once(session, alert)[0]


def list_alerts(
    session: Session, *, include_handled: bool, limit: int = 50, offset: int = 0
) -> list[SafeguardingAlert]:
    """Alerts, open ones first, newest first."""
    query = select(SafeguardingAlert)
    if not include_handled:
        query = query.where(SafeguardingAlert.handled_at.is_(None))
    return list(
        session.scalars(
            query.order_by(
                SafeguardingAlert.handled_at.is_not(None),
                SafeguardingAlert.created_at.desc(),
                SafeguardingAlert.id.desc(),
            )
            .limit(limit)
            .offset(offset)
        )
    )


def counts(session: Session) -> AlertCounts:
    """Open and total alerts."""
    total = session.scalar(select(func.count(SafeguardingAlert.id))) or 0
    waiting = (
        session.scalar(
            select(func.count(SafeguardingAlert.id)).where(SafeguardingAlert.handled_at.is_(None))
        )
        or 0
    )
    return AlertCounts(open=waiting, total=total)


def _claim(session: Session, alert_id: int, actor: str) -> tuple[SafeguardingAlert, bool]:
    """Mark the alert handled by `actor` unless someone has; (the alert, whether we did).

    The transaction's first write, so that of two officers at once exactly one handles it
    (on SQLite too, where a read takes no lock). NotAnAlert if there is no such alert.
    """
    claimed = session.execute(
        update(SafeguardingAlert)
        .where(SafeguardingAlert.id == alert_id, SafeguardingAlert.handled_at.is_(None))
        .values(handled_at=utcnow(), handled_by=actor)
        .execution_options(synchronize_session=False)
    ).rowcount
    alert = session.get(SafeguardingAlert, alert_id, populate_existing=True)
    if alert is None:
        raise NotAnAlert(alert_id)
    return alert, claimed == 1


def _audit(
    session: Session,
    alert: SafeguardingAlert,
    action: str,
    actor: str,
    remote_addr: str | None,
    **detail: object,
) -> None:
    """Audit what the officer who handled the alert did with it."""
    audit.record(
        session,
        actor=actor,
        action=action,
        target=f"alert:{alert.id}",
        detail={"kind": alert.kind, **detail},
        remote_addr=remote_addr,
    )


def mark_handled(
    session: Session, alert_id: int, *, actor: str, remote_addr: str | None = None
) -> SafeguardingAlert:
    """An officer has dealt with it (audited); handling twice changes nothing."""
    alert, claimed = _claim(session, alert_id, actor)
    if claimed:
        _audit(session, alert, "safeguarding.handled", actor, remote_addr)
    return alert


def keep_as_view(
    session: Session,
    alert_id: int,
    themes: Sequence[str],
    *,
    actor: str,
    remote_addr: str | None = None,
) -> View:
    """An officer judges an open alert an ordinary view: stored as one under `themes`.

    The view is the resident's message as it came, from when it came, themed by the
    officer (none: "something else"); the alert is handled, pointing to it, and keeps no
    copy of the words, so that the view's redaction, forgetting and retention are the only
    ones that apply (audited). NotAnAlert, AlreadyHandled; views.NotAllowed when the
    resident has not consented to us keeping their views, has opted out or asked to be
    erased: it then stays an alert. CurationError for a theme not in the catalogue.
    """
    found = session.get(SafeguardingAlert, alert_id)
    if found is None:
        raise NotAnAlert(alert_id)
    lock_resident(session, found.resident_id)  # first, as erasure does: no deadlock with it
    alert, claimed = _claim(session, alert_id, actor)
    if not claimed or made_from(session, View, alert.inbox_id) is not None:
        raise AlreadyHandled(alert_id)
    resident = session.get(Resident, alert.resident_id)
    if resident is None or resident.erase_requested_at is not None:
        raise NotAllowed
    view = store_view(
        session,
        resident,
        text=alert.text,
        theme_key=None,
        confidence=None,
        channel=alert.channel,
        inbox_id=alert.inbox_id,
    )
    set_themes(session, view, themes, ThemeSource.OFFICER)
    view.created_at = alert.created_at
    alert.view_id = view.id
    alert.text = ""  # the view's now
    chosen = list(dict.fromkeys(themes))
    _audit(
        session, alert, "safeguarding.kept_as_view", actor, remote_addr, view=view.id, themes=chosen
    )
    return view


def to_notify(session: Session) -> list[int]:
    """Alerts the duty inbox has not been told about yet."""
    return list(
        session.scalars(
            select(SafeguardingAlert.id)
            .where(SafeguardingAlert.notified_at.is_(None))
            .order_by(SafeguardingAlert.id)
        )
    )


def mark_notified(session: Session, alert_ids: list[int], now: datetime) -> None:
    """The duty inbox was told about these alerts."""
    for alert_id in alert_ids:
        alert = session.get(SafeguardingAlert, alert_id)
        if alert is not None and alert.notified_at is None:
            alert.notified_at = now
