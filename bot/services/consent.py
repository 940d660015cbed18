"""Recording consent, opt-out and opt-in: an append-only event and the resident's state."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from bot.models import ConsentEvent, ConsentWording, Resident, utcnow


def wording_version(text: str) -> str:
    """A stable version id for a consent wording: changes whenever the wording does."""
    return "w-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _ensure_wording(session: Session, text: str) -> str:
    version = wording_version(text)
    if session.get(ConsentWording, version) is None:
        session.add(ConsentWording(version=version, text=text))
        session.flush()
    return version


def record_consent(
    session: Session, resident: Resident, *, given: bool, wording: str, channel: str
) -> ConsentEvent:
    """Record the resident's answer to the consent question shown as `wording`."""
    event = ConsentEvent(
        resident_id=resident.id,
        kind="given" if given else "refused",
        store_views=given,
        contact=given,
        wording_version=_ensure_wording(session, wording),
        channel=channel,
    )
    session.add(event)
    resident.consent = event.kind
    resident.contact_ok = given
    session.flush()
    return event


def opt_out(session: Session, resident: Resident, *, channel: str) -> bool:
    """Stop all messages to the resident, on every channel; False if already opted out."""
    if resident.opted_out_at is not None:
        return False
    now = utcnow()
    session.add(
        ConsentEvent(
            resident_id=resident.id,
            kind="opted_out",
            store_views=resident.consent == "given",
            contact=False,
            channel=channel,
            created_at=now,
        )
    )
    resident.opted_out_at = now
    resident.contact_ok = False
    session.flush()
    return True


def opt_in(session: Session, resident: Resident, *, channel: str) -> bool:
    """Resume messages after an opt-out; False if the resident was not opted out."""
    if resident.opted_out_at is None:
        return False
    session.add(
        ConsentEvent(
            resident_id=resident.id,
            kind="opted_in",
            store_views=resident.consent == "given",
            contact=resident.consent == "given",
            channel=channel,
        )
    )
    resident.opted_out_at = None
    resident.contact_ok = resident.consent == "given"
    session.flush()
    return True
