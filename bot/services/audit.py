"""The audit log: who published what and who changed which account (append-only)."""

from __future__ import annotations

import getpass
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import AuditEvent


def cli_actor() -> str:
    """The actor name for changes made from a terminal: cli:<OS user>."""
    return f"cli:{getpass.getuser()}"


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    remote_addr: str | None = None,
) -> AuditEvent:
    """Append one event, in the caller's transaction; `detail` must hold no personal data."""
    event = AuditEvent(
        actor=actor,
        action=action,
        target=target,
        detail=json.dumps(detail or {}, sort_keys=True),
        remote_addr=remote_addr,
    )
    session.add(event)
    session.flush()
    return event


def latest_events(
    session: Session, *, limit: int = 50, offset: int = 0
) -> tuple[list[AuditEvent], int]:
    """The newest events first, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    events = session.scalars(
        select(AuditEvent)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(events), total
