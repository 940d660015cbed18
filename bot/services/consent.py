"""Recording consent, opt-out and opt-in: an append-only event and the resident's state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.models import ConsentAnswer, ConsentEvent, ConsentKind, ConsentWording, Resident, utcnow
from bot.services.residents import get_or_create_resident
from bot.services.rights import unblock


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
        kind=ConsentKind.GIVEN if given else ConsentKind.REFUSED,
        store_views=given,
        contact=given,
        wording_version=_ensure_wording(session, wording),
        channel=channel,
    )
    session.add(event)
    resident.consent = ConsentAnswer.GIVEN if given else ConsentAnswer.REFUSED
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
            kind=ConsentKind.OPTED_OUT,
            store_views=resident.consent == ConsentAnswer.GIVEN,
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
            kind=ConsentKind.OPTED_IN,
            store_views=resident.consent == ConsentAnswer.GIVEN,
            contact=resident.consent == ConsentAnswer.GIVEN,
            channel=channel,
        )
    )
    resident.opted_out_at = None
    resident.contact_ok = resident.consent == ConsentAnswer.GIVEN
    session.flush()
    return True


@dataclass(frozen=True)
class Consent:
    """The resident's answer to the consent question, as recorded: "given" or "refused"."""

    consent: str


def answer_consent(
    session: Session,
    conversation_id: str,
    *,
    given: bool,
    wording: str,
    channel: str,
    do_not_contact_key: str | None = None,
) -> Consent:
    """The resident in this conversation (met now if new) answers the consent question.

    Consenting again after an erasure takes their addresses off the do-not-contact list,
    kept under `do_not_contact_key` (needed for a yes).
    """
    if given and do_not_contact_key is None:
        raise ValueError("a yes needs the do-not-contact key")
    resident = get_or_create_resident(session, conversation_id, channel)
    record_consent(session, resident, given=given, wording=wording, channel=channel)
    if given and do_not_contact_key is not None:
        unblock(session, resident, do_not_contact_key)
    return Consent(resident.consent)


@dataclass(frozen=True)
class Subscription:
    """Whether an opt-out or opt-in changed anything, and the resident's rhythm."""

    changed: bool
    rhythm: str


def opt_out_conversation(session: Session, conversation_id: str, *, channel: str) -> Subscription:
    """STOP from the resident in this conversation (met now if new): no more messages."""
    resident = get_or_create_resident(session, conversation_id, channel)
    return Subscription(opt_out(session, resident, channel=channel), resident.rhythm)


def opt_in_conversation(session: Session, conversation_id: str, *, channel: str) -> Subscription:
    """START from the resident in this conversation (met now if new): messages again."""
    resident = get_or_create_resident(session, conversation_id, channel)
    return Subscription(opt_in(session, resident, channel=channel), resident.rhythm)
