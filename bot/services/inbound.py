"""The one way a resident's message comes in, whatever the channel.

`accept` does, in one transaction: drop a repeat of a provider message, drop a button
press we did not offer (a forged one, or one on a question since closed), find or create
the resident, apply STOP/START at once (so they work with Rasa and the action server
both down), resolve a numbered choice, and keep the message in the durable inbox. The
webhook answers the provider only after that commit; the inbox worker hands the message
to Rasa afterwards, as often as it takes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bot.db import Database
from bot.keywords import keyword_intent
from bot.models import (
    InboundMessage,
    InboxMessage,
    InboxStatus,
    PendingChoice,
    Resident,
    utcnow,
)
from bot.postcodes import redact_full_postcodes
from bot.services.checkins import resident_wrote
from bot.services.consent import opt_in, opt_out
from bot.services.delivery import chosen_payload
from bot.services.identities import resident_at, resident_for
from bot.services.inbox import Claimed

MAX_TEXT_CHARS = 2000
NON_TEXT = "/non_text"  # photos, stickers, voice...: the dialogue says it reads text only
ATTEMPTS = 3  # a race on a new resident or a repeated delivery is settled by trying again
DEADLOCK = "40P01"  # PostgreSQL broke a deadlock by failing this transaction: try again
# What Rasa would take as an intent: "/" after any whitespace (Rasa strips the text first).
_INTENT_PREFIX = re.compile(r"^[\s/]+")


@dataclass(frozen=True)
class Incoming:
    """A message as a channel parsed it, before anything is decided about it."""

    channel: str
    address: str  # E.164 number, Telegram chat id, REST sender
    text: str  # what the resident typed
    provider_id: str | None = None  # MessageSid, update_id; None: never repeated (REST)
    payload: str | None = None  # a pressed button's payload, or NON_TEXT
    start: bool = False  # Telegram's /start


@dataclass(frozen=True)
class Accepted:
    """What became of an incoming message."""

    duplicate: bool  # a provider's repeat of a message we already have
    inbox_id: int | None = None  # None: a repeat, or nothing to hand to Rasa (empty text)
    conversation_id: str | None = None
    resident_id: int | None = None
    text: str | None = None  # what Rasa is to be given
    claimed: Claimed | None = None  # claimed by the worker in the same transaction


# Run in the accepting transaction: claim the message just kept, or leave it (None).
ClaimHook = Callable[[Session, Accepted, Incoming, datetime], "Claimed | None"]


def text_for_rasa(text: str) -> str:
    """A resident's text as Rasa should see it.

    Carrier keywords become their intent (handled before NLU, in any case); anything else
    loses every "/" and space it starts with ("/ /restart" too), so nobody can type
    `/intent{"slot": ...}` at Rasa; full postcodes are cut to their district. NUL
    characters, which no database column takes, are dropped.
    """
    text = text.replace("\x00", "").strip()[:MAX_TEXT_CHARS]
    intent = keyword_intent(text)
    if intent:
        return f"/{intent}"
    return redact_full_postcodes(_INTENT_PREFIX.sub("", text).strip())


def _offered(session: Session, message: Incoming) -> bool:
    """True unless `message` presses a button we did not offer its address (NON_TEXT is ours).

    A pressed button's payload goes to Rasa as it is, so it must be one of the options
    of the question now open there: nobody can press `/restart` or `/opt_in` at Rasa.
    """
    if not message.payload or message.payload == NON_TEXT:
        return True
    resident = resident_at(session, message.channel, message.address)
    if resident is None:
        return False
    offered = session.scalars(
        select(PendingChoice.payloads).where(
            PendingChoice.resident_id == resident.id, PendingChoice.channel == message.channel
        )
    ).one_or_none()
    return offered is not None and message.payload in json.loads(offered)


def _rasa_text(session: Session, resident: Resident, message: Incoming) -> str:
    """What Rasa is given: a payload, a numbered choice's payload, or the cleaned text."""
    if message.payload:
        return message.payload
    if message.start:
        # /start greets a newcomer (the consent flow) and re-subscribes after /stop.
        return "/opt_in" if resident.opted_out_at is not None else "/greet"
    chosen = chosen_payload(session, resident, message.channel, message.text)
    return chosen or text_for_rasa(message.text)


def _is_repeat(session: Session, message: Incoming) -> bool:
    if message.provider_id is None:
        return False
    return (
        session.scalars(
            select(InboundMessage.id).where(
                InboundMessage.channel == message.channel,
                InboundMessage.provider_id == message.provider_id,
            )
        ).first()
        is not None
    )


# Built once, in SQLAlchemy Core: every message is kept with it.
_INTO_INBOX = insert(InboxMessage.__table__)


def accept(session: Session, message: Incoming, now: datetime) -> Accepted:
    """Record `message` in the inbox (see the module docstring); IntegrityError on a race."""
    if _is_repeat(session, message):
        return Accepted(duplicate=True)
    if message.provider_id is not None:
        session.add(InboundMessage(channel=message.channel, provider_id=message.provider_id))
    if not _offered(session, message):
        session.flush()
        return Accepted(duplicate=False)
    # Locked: one resident's messages accepted at once take turns, and are numbered in the
    # order they commit (no claim can take a later one while an earlier one is accepted).
    resident = resident_for(session, message.channel, message.address, lock=True)
    resident_wrote(session, resident, now)
    text = _rasa_text(session, resident, message)
    if not text:
        session.flush()
        return Accepted(duplicate=False, conversation_id=resident.conversation_id)
    if text == "/opt_out":
        opt_out(session, resident, channel=message.channel)
    elif text == "/opt_in":
        opt_in(session, resident, channel=message.channel)
    session.flush()
    inbox_id = session.execute(
        _INTO_INBOX,
        {
            "resident_id": resident.id,
            "channel": message.channel,
            "text": text,
            "status": InboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "received_at": now,
        },
    ).inserted_primary_key[0]
    return Accepted(
        duplicate=False,
        inbox_id=inbox_id,
        conversation_id=resident.conversation_id,
        resident_id=resident.id,
        text=text,
    )


def accept_message(
    database: Database,
    message: Incoming,
    now: datetime | None = None,
    *,
    claim: ClaimHook | None = None,
) -> Accepted:
    """`accept` in its own transaction, committed before returning; with `claim`, the
    message kept is offered to it in the same transaction (`Accepted.claimed`).

    Two first messages from one new address at once race on the unique identity, and two
    deliveries of one provider message on its id: the loser's transaction fails as a
    whole and is tried again, and then finds the winner's rows. So is one that PostgreSQL
    chose to break a deadlock.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with database.transaction() as session:
                at = now or utcnow()
                accepted = accept(session, message, at)
                if claim is None or accepted.inbox_id is None:
                    return accepted
                return replace(accepted, claimed=claim(session, accepted, message, at))
        except DBAPIError as exc:
            lost_a_race = isinstance(exc, IntegrityError)
            if attempt == ATTEMPTS or not (lost_a_race or _deadlocked(exc)):
                raise
    raise AssertionError("unreachable")


def _deadlocked(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "pgcode", None) == DEADLOCK
