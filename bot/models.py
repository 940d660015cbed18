"""Database tables: residents, how to reach them, what they consented to and what they said."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Mapper, declarative_base, relationship
from sqlalchemy.orm.attributes import Event
from sqlalchemy.types import TypeDecorator

from bot.redaction import REDACTION_VERSION, redact
from bot.targets import Targets, dump_keys

# Named constraints so Alembic migrations read the same on SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
if TYPE_CHECKING:  # SQLAlchemy 1.4 has no type hints: what type checkers see of Base

    class Base:
        """The declarative base of every table below."""

        metadata: ClassVar[MetaData]
        __table__: ClassVar[Any]

        def __init__(self, **columns: Any) -> None: ...

else:
    Base = declarative_base(metadata=metadata)


class State(str, enum.Enum):
    """A value a state, status, stage or kind column may hold, stored as its own string.

    Members are `str`: they compare equal to (and hash as) the stored text, so rows read
    back as plain strings match them, and `str()` / f-strings give the stored text.
    """

    def __str__(self) -> str:
        return str(self.value)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def new_conversation_id() -> str:
    """An opaque, unguessable conversation id (Rasa's sender_id for a resident)."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass a timezone-aware one")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class ConsentAnswer(State):
    """`Resident.consent`: the resident's answer to the consent question (None: never asked)."""

    GIVEN = "given"
    REFUSED = "refused"


class CheckinRhythm(State):
    """`Resident.rhythm`: how often a resident is checked in with (most to least often)."""

    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"
    UPDATES_ONLY = "updates_only"  # no check-ins, only "you said, we did" updates


class PauseReason(State):
    """Why check-ins are paused (`Resident.pause_reason`), or why a preference changed
    (`PreferenceEvent.reason`, which may also be RESUMED)."""

    ASKED = "asked"
    NO_REPLY = "no_reply"
    RESUMED = "resumed"


class Resident(Base):
    """A person we talk to, whatever channel they use; the current state of their consent."""

    __tablename__ = "residents"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), nullable=False, unique=True, default=new_conversation_id)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    # Projection of the latest consent event, kept in the same transaction as the event.
    consent = Column(String(16), nullable=True)  # a ConsentAnswer; None: never asked
    contact_ok = Column(Boolean, nullable=False, default=False)
    opted_out_at = Column(UTCDateTime, nullable=True)
    area = Column(String(8), nullable=True)  # postcode district (outward code) only
    # Check-in rhythm, a CheckinRhythm; see PreferenceEvent.
    rhythm = Column(
        String(16),
        nullable=False,
        default=CheckinRhythm.MONTHLY.value,
        server_default=CheckinRhythm.MONTHLY.value,
    )
    paused_until = Column(UTCDateTime, nullable=True)
    pause_reason = Column(String(16), nullable=True)  # PauseReason.ASKED or NO_REPLY
    # Asked in the conversation to be forgotten: erased once the reply has gone.
    erase_requested_at = Column(UTCDateTime, nullable=True)
    # Erased: the row stays, emptied, only so that its id is never given to anyone else
    # (SQLite reuses the highest id of a deleted row; pseudonyms are keyed on the id).
    erased_at = Column(UTCDateTime, nullable=True)

    identities = relationship("ChannelIdentity", back_populates="resident")
    views = relationship("View", back_populates="resident")


class ChannelIdentity(Base):
    """An address (phone number, chat id, REST sender) on one channel, owned by a resident."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_channel_identities_address"),)

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    address = Column(String(255), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    unreachable_at = Column(UTCDateTime, nullable=True)

    resident = relationship("Resident", back_populates="identities")


class DoNotContact(Base):
    """An erased resident's address, as a keyed hash: nothing proactive goes to it again."""

    __tablename__ = "do_not_contact"
    __table_args__ = (UniqueConstraint("channel", "address_hash", name="uq_do_not_contact"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(32), nullable=False)
    address_hash = Column(String(64), nullable=False)  # HMAC-SHA256 with DO_NOT_CONTACT_KEY
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ConsentWording(Base):
    """The exact consent wording shown to residents, kept once per version for audit."""

    __tablename__ = "consent_wordings"

    version = Column(String(32), primary_key=True)
    text = Column(Text, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ConsentKind(State):
    """`ConsentEvent.kind`: a consent decision, or an opt-out / opt-in."""

    GIVEN = "given"
    REFUSED = "refused"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"


class ConsentEvent(Base):
    """One consent decision or opt-out/opt-in; append-only."""

    __tablename__ = "consent_events"

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # a ConsentKind
    store_views = Column(Boolean, nullable=False)
    contact = Column(Boolean, nullable=False)
    wording_version = Column(ForeignKey("consent_wordings.version"), nullable=True)
    channel = Column(String(32), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


@event.listens_for(ConsentEvent, "before_update")
def _consent_events_are_append_only(
    mapper: Mapper, connection: Connection, target: ConsentEvent
) -> None:
    raise ValueError("consent events are append-only")


class ThemeSource(State):
    """`View.theme_source`: who set a view's theme."""

    MODEL = "model"  # the classifier
    RESIDENT = "resident"  # the resident corrected it
    OFFICER = "officer"  # an officer re-themed it


class View(Base):
    """Something a resident told us, with its theme.

    Officers curate views (bot/services/curation.py): put them under other themes, redact
    words, hide them (left out of counts, exports and targeting) or link them to updates.
    """

    __tablename__ = "views"

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True)
    text = Column(Text, nullable=False)
    theme_key = Column(String(32), nullable=True, index=True)  # None: "something else"
    confidence = Column(Float, nullable=True)  # the classifier's confidence in its theme
    # Who set its theme (a ThemeSource), and when (kept by `_theme_set_now` below whenever
    # `theme_source` is assigned).
    theme_source = Column(String(16), nullable=False, default=ThemeSource.MODEL.value)
    theme_set_at = Column(UTCDateTime, nullable=True, default=utcnow)
    channel = Column(String(32), nullable=False)
    area = Column(String(8), nullable=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    question_id = Column(ForeignKey("checkin_questions.id"), nullable=True, index=True)
    rating = Column(Integer, nullable=True)  # 1-5 for scale questions
    # The inbox message it came from: storing the same message twice keeps one view.
    inbox_id = Column(ForeignKey("inbox.id", ondelete="SET NULL"), nullable=True, unique=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    # Hidden by an officer (abusive, spam, test): kept, but out of counts, exports, targeting.
    hidden_at = Column(UTCDateTime, nullable=True)
    hidden_reason = Column(String(16), nullable=True)
    redacted_at = Column(UTCDateTime, nullable=True)  # an officer redacted words of its text
    # `text` through `bot.redaction.redact`, made whenever `text` is set (`_redact_now`
    # below), and the REDACTION_VERSION it was made with: exports use it when that is
    # today's version and redact again otherwise (rows from before, or after a rule change).
    text_redacted = Column(Text, nullable=True)
    redaction_version = Column(Integer, nullable=True)

    resident = relationship("Resident", back_populates="views")

    def redacted_words(self) -> str:
        """Its words redacted: as stored if made under today's rules, else redacted now."""
        if self.text_redacted is not None and self.redaction_version == REDACTION_VERSION:
            return str(self.text_redacted)
        return redact(self.text or "")


@event.listens_for(View.theme_source, "set")
def _theme_set_now(target: View, value: str, oldvalue: object, initiator: Event) -> None:
    """Whoever sets a view's theme (model, resident or officer) sets when, too."""
    target.theme_set_at = utcnow()


REDACTED_COLUMNS = ("text_redacted", "redaction_version")


def redacted_columns(text: str) -> dict[str, Any]:
    """The values of `text_redacted` and `redaction_version` for a view whose text is `text`:
    for writes that bypass the ORM (`update(View).values(text=..., **redacted_columns(...))`).
    """
    return {"text_redacted": redact(text), "redaction_version": REDACTION_VERSION}


@event.listens_for(View.text, "set")
def _redact_now(target: View, value: str | None, oldvalue: object, initiator: Event) -> None:
    """Whoever sets a view's text (stored, added to, curated, emptied) sets its redacted
    text too, so the two never differ and no erased words stay in `text_redacted`."""
    made = redacted_columns(value) if value is not None else dict.fromkeys(REDACTED_COLUMNS)
    for column, made_value in made.items():
        setattr(target, column, made_value)


class SafeguardingKind(State):
    """`SafeguardingAlert.kind`: what kind of danger a message may signal."""

    DANGER_NOW = "danger_now"
    SELF_HARM = "self_harm"
    ABUSE = "abuse"
    CRIME_REPORT = "crime_report"


class SafeguardingAlert(Base):
    """A message that may mean someone is in danger: not a view; for officers to act on.

    kind: a SafeguardingKind. The text is kept (it is what an officer needs to act); it
    appears only on the console's safeguarding page, until an officer judges the message
    an ordinary view and keeps it as one (`view_id`).
    """

    __tablename__ = "safeguarding_alerts"

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # a SafeguardingKind
    text = Column(Text, nullable=False)
    channel = Column(String(32), nullable=False)
    confidence = Column(Float, nullable=True)
    # The inbox message it came from: a turn run twice records one alert.
    inbox_id = Column(ForeignKey("inbox.id", ondelete="SET NULL"), nullable=True, unique=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    notified_at = Column(UTCDateTime, nullable=True)  # the duty inbox was emailed
    handled_at = Column(UTCDateTime, nullable=True)
    handled_by = Column(String(254), nullable=True)  # the officer's email
    # Handled by keeping it as the ordinary view it was (an officer's judgement): that view,
    # which then holds the words (the alert's text is emptied).
    view_id = Column(ForeignKey("views.id", ondelete="SET NULL"), nullable=True, index=True)


class InboundMessage(Base):
    """A provider message or update we have accepted: replays and retries are dropped."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_inbound_messages_provider_id"),
    )

    id = Column(Integer, primary_key=True)
    channel = Column(String(32), nullable=False)
    provider_id = Column(String(64), nullable=False)  # Twilio MessageSid, Telegram update_id
    received_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ViewTheme(Base):
    """One theme of a view: a view about two things is counted and targeted under both.

    The primary theme (rank 0) is also `View.theme_key`; "something else" has no rows.
    """

    __tablename__ = "view_themes"
    __table_args__ = (UniqueConstraint("view_id", "theme_key", name="uq_view_themes_view_id"),)

    id = Column(Integer, primary_key=True)
    view_id = Column(ForeignKey("views.id", ondelete="CASCADE"), nullable=False, index=True)
    theme_key = Column(String(32), nullable=False, index=True)
    confidence = Column(Float, nullable=True)
    rank = Column(Integer, nullable=False, default=0)  # 0: the primary theme


class InboxStatus(State):
    """`InboxMessage.status`: PENDING -> REPLYING -> DONE, or FAILED."""

    PENDING = "pending"  # to hand to Rasa
    REPLYING = "replying"  # processed; its `replies` are to send
    DONE = "done"
    FAILED = "failed"  # could not be processed for INBOX_GIVE_UP_HOURS


class InboxMessage(Base):
    """A resident's message, kept until Rasa has processed it and its replies have gone.

    status: an InboxStatus, pending -> replying (processed; `replies` to send) -> done;
    or failed.
    """

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_open", "status", "resident_id", "id"),)

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False)
    channel = Column(String(32), nullable=False)
    text = Column(Text, nullable=False)  # what Rasa is given (a payload for a numbered choice)
    status = Column(String(16), nullable=False, default=InboxStatus.PENDING.value)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime, nullable=True)
    claim_token = Column(String(32), nullable=True)
    claimed_until = Column(UTCDateTime, nullable=True)
    replies = Column(Text, nullable=True)  # JSON list of Rasa's messages, once processed
    error = Column(String(64), nullable=True)  # why the last attempt failed
    received_at = Column(UTCDateTime, nullable=False, default=utcnow)
    processed_at = Column(UTCDateTime, nullable=True)


class SendSlot(Base):
    """The next free send slot of one sending identity (a number, a bot), for every process."""

    __tablename__ = "send_slots"

    identity = Column(String(80), primary_key=True)  # e.g. "sms:+447700900000"
    next_at = Column(Float, nullable=False)  # seconds since the epoch


class Purpose(State):
    """`OutboundMessage.purpose`: why a message was sent."""

    REPLY = "reply"
    CHECKIN = "checkin"
    UPDATE = "update"


class DeliveryStatus(State):
    """`OutboundMessage.status`: what became of a message handed to a provider.

    SENT / FAILED when handed over (or refused); then the provider's delivery reports
    (Twilio's words), which may also be words not listed here.
    """

    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNDELIVERED = "undelivered"
    BLOCKED = "blocked"


class OutboundMessage(Base):
    """Every message we handed to a provider (reply, check-in or update) and what became of it."""

    __tablename__ = "outbound_messages"

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=True, index=True)
    channel = Column(String(32), nullable=False)
    purpose = Column(  # a Purpose
        String(16), nullable=False, default=Purpose.REPLY.value, server_default=Purpose.REPLY.value
    )
    # The update's outbox row, for an update: its delivery reports move that row too.
    outbox_id = Column(ForeignKey("outbox.id", ondelete="SET NULL"), nullable=True, index=True)
    provider_id = Column(String(64), nullable=True, index=True)
    status = Column(String(16), nullable=False)  # a DeliveryStatus (or a provider's word)
    error_code = Column(String(16), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)


class PendingChoice(Base):
    """The numbered options last offered to a resident on a channel without buttons."""

    __tablename__ = "pending_choices"
    __table_args__ = (
        UniqueConstraint("resident_id", "channel", name="uq_pending_choices_resident_id"),
    )

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False)
    channel = Column(String(32), nullable=False)
    payloads = Column(Text, nullable=False)  # JSON list, option 1 first
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class PreferenceEvent(Base):
    """A change of check-in rhythm or a pause, as the resident asked (append-only)."""

    __tablename__ = "preference_events"

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True)
    rhythm = Column(String(16), nullable=False)
    paused_until = Column(UTCDateTime, nullable=True)
    reason = Column(String(16), nullable=False)  # a PauseReason
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class QuestionKind(State):
    """`CheckinQuestion.kind`."""

    OPEN = "open"
    SCALE = "scale"  # a rating from 1 to 5


class CheckinQuestion(Base):
    """A check-in question set by an officer, with its target and run window; or the
    standing question, asked whenever no officer's question applies (`standing`)."""

    __tablename__ = "checkin_questions"

    id = Column(Integer, primary_key=True)
    wording = Column(Text, nullable=False)
    kind = Column(String(8), nullable=False)  # a QuestionKind
    ask_why = Column(Boolean, nullable=False, default=False)
    # The standing open question (bot/services/checkins.py `default_question`): never an
    # officer's question, never ended. Marked, not recognised by its wording.
    standing = Column(Boolean, nullable=False, default=False, server_default=false())
    # Who it is put to and when: read and written as `targets` (bot/targets.py).
    themes = Column(Text, nullable=False, default=dump_keys(()))  # JSON list of theme keys
    areas = Column(Text, nullable=False, default=dump_keys(()))  # JSON list of districts
    starts_at = Column(UTCDateTime, nullable=False)
    ends_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    @property
    def targets(self) -> Targets:
        """Its themes and districts, and its run window (starts_at, ends_at)."""
        return Targets.from_json(self.themes, self.areas, self.starts_at, self.ends_at)

    @targets.setter
    def targets(self, targets: Targets) -> None:
        if targets.since is None:
            raise ValueError("a check-in question's run window has a start")
        self.themes, self.areas = targets.to_json()
        self.starts_at, self.ends_at = targets.since, targets.until


class CheckinKind(State):
    """`Checkin.kind`."""

    CHECKIN = "checkin"
    PAUSE_NOTE = "pause_note"  # we pause after NO_REPLY_LIMIT unanswered, and say so


class CheckinStatus(State):
    """`Checkin.status`: CLAIMED -> SENT once the provider took it; FAILED is claimed again
    in its period; EXPIRED: not sent within the validity period after it was due."""

    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"


class Checkin(Base):
    """One check-in (or the no-reply pause note) for one resident and one period."""

    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("resident_id", "period", name="uq_checkins_period"),)

    id = Column(Integer, primary_key=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True)
    period = Column(String(32), nullable=False)  # the due date it answers: one per period
    kind = Column(String(16), nullable=False)  # a CheckinKind
    question_id = Column(ForeignKey("checkin_questions.id"), nullable=True)
    channel = Column(String(32), nullable=False)
    # A CheckinStatus: "claimed" -> "sent" once the provider took it; "failed" is claimed
    # again in its period; "expired" was not sent in time.
    status = Column(String(16), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    claimed_at = Column(UTCDateTime, nullable=True)  # a claim older than its lease is taken again
    sent_at = Column(UTCDateTime, nullable=True)
    answered_at = Column(UTCDateTime, nullable=True)


class Stage(State):
    """`Update.stage`: has the change happened yet?"""

    DONE = "done"  # it has happened: residents are asked if it helped
    COMING = "coming"  # still to happen: residents are asked nothing


class Update(Base):
    """A "you said, we did" update: drafted, then published once to the residents concerned."""

    __tablename__ = "updates"

    id = Column(Integer, primary_key=True)
    title = Column(String(200), nullable=False)
    you_said = Column(Text, nullable=False)
    we_did = Column(Text, nullable=False)
    # Whose views it answers: read and written as `targets` (bot/targets.py).
    themes = Column(Text, nullable=False, default=dump_keys(()))  # JSON list of theme keys
    areas = Column(Text, nullable=False, default=dump_keys(()))  # JSON list of districts
    since = Column(UTCDateTime, nullable=True)  # views from this time on
    until = Column(UTCDateTime, nullable=True)  # ... up to this time
    # A Stage, "done": it has happened (residents are asked if it helped); "coming": still to
    # happen.
    stage = Column(
        String(8), nullable=False, default=Stage.DONE.value, server_default=Stage.DONE.value
    )
    created_by = Column(String(120), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    published_at = Column(UTCDateTime, nullable=True)

    @property
    def targets(self) -> Targets:
        """Its themes and districts, and the window of the views it answers (since, until)."""
        return Targets.from_json(self.themes, self.areas, self.since, self.until)

    @targets.setter
    def targets(self, targets: Targets) -> None:
        self.themes, self.areas = targets.to_json()
        self.since, self.until = targets.since, targets.until


class UpdateView(Base):
    """A view an officer hand-picked as one this update answers."""

    __tablename__ = "update_views"
    __table_args__ = (UniqueConstraint("update_id", "view_id", name="uq_update_views_view_id"),)

    id = Column(Integer, primary_key=True)
    update_id = Column(ForeignKey("updates.id", ondelete="CASCADE"), nullable=False, index=True)
    view_id = Column(ForeignKey("views.id", ondelete="CASCADE"), nullable=False)


class OutboxStatus(State):
    """`OutboxMessage.status`.

    queued -> sending (claimed) -> sent -> delivered (SMS reports); or failed / opted_out;
    expired: not sent within MESSAGE_VALIDITY_HOURS, never sent late.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    OPTED_OUT = "opted_out"
    SKIPPED = "skipped"
    EXPIRED = "expired"


# An update's outbox statuses once it reached its resident: they have been told.
TOLD = (OutboxStatus.SENT, OutboxStatus.DELIVERED)


class OutboxMessage(Base):
    """One resident to tell about one update: written when the update is published."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("update_id", "resident_id", name="uq_outbox_resident_id"),
        Index("ix_outbox_due", "status", "next_attempt_at", "id"),
    )

    id = Column(Integer, primary_key=True)
    update_id = Column(ForeignKey("updates.id", ondelete="CASCADE"), nullable=False, index=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True)
    channel = Column(String(32), nullable=False)
    status = Column(String(16), nullable=False, default=OutboxStatus.QUEUED.value, index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime, nullable=True)
    claimed_at = Column(UTCDateTime, nullable=True)
    claim_token = Column(String(32), nullable=True)  # which worker's claim this is
    provider_id = Column(String(64), nullable=True, index=True)
    error_code = Column(String(16), nullable=True)
    sent_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ReactionKind(State):
    """`UpdateReaction.kind`."""

    HELPED = "helped"
    NOT_HELPED = "not_helped"
    COMMENT = "comment"  # what they said about it, kept as a view


class UpdateReaction(Base):
    """A resident's reply to an update: it helped, it did not, or what they said about it."""

    __tablename__ = "update_reactions"

    id = Column(Integer, primary_key=True)
    update_id = Column(ForeignKey("updates.id", ondelete="CASCADE"), nullable=False, index=True)
    resident_id = Column(ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True)
    outbox_id = Column(ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, index=True)
    kind = Column(String(16), nullable=False)  # a ReactionKind
    view_id = Column(ForeignKey("views.id", ondelete="SET NULL"), nullable=True)  # comment text
    channel = Column(String(32), nullable=False)
    # The inbox message it came from: recording the same message twice keeps one reaction.
    inbox_id = Column(ForeignKey("inbox.id", ondelete="SET NULL"), nullable=True, unique=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class Role(State):
    """`ConsoleUser.role`, from least to most allowed: each can do what the previous can."""

    ANALYST = "analyst"
    OFFICER = "officer"
    ADMIN = "admin"


class ConsoleUser(Base):
    """An officer, analyst or admin who signs in to the console."""

    __tablename__ = "console_users"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)  # stored lower-case
    name = Column(String(120), nullable=False)
    password_hash = Column(String(255), nullable=False)  # argon2id
    role = Column(String(16), nullable=False)  # a Role
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    disabled_at = Column(UTCDateTime, nullable=True)
    last_login_at = Column(UTCDateTime, nullable=True)
    # Sessions started before this are over: signing out ends every session of the account
    # (a copied cookie included), not only the browser's.
    signed_out_at = Column(UTCDateTime, nullable=True)
    # May see safeguarding alerts (residents' messages about danger), whatever the role.
    safeguarding = Column(Boolean, nullable=False, default=False, server_default=false())


class LoginFailure(Base):
    """A failed sign-in, counted to throttle guessing (by account and by address)."""

    __tablename__ = "login_failures"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, index=True)
    remote_addr = Column(String(64), nullable=False, index=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


class AuditEvent(Base):
    """Who did what in the console or CLI: publishes, user changes, sign-ins. Append-only."""

    __tablename__ = "audit_events"

    id = Column(Integer, primary_key=True)
    actor = Column(String(254), nullable=False)  # a console user's email, or "cli:<user>"
    action = Column(String(48), nullable=False, index=True)  # e.g. "update.publish"
    target = Column(String(120), nullable=True)  # e.g. "update:12", "user:3"
    detail = Column(Text, nullable=False, default="{}")  # JSON, never personal data
    remote_addr = Column(String(64), nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)


@event.listens_for(AuditEvent, "before_update")
def _audit_events_are_append_only(
    mapper: Mapper, connection: Connection, target: AuditEvent
) -> None:
    raise ValueError("audit events are append-only")
