"""Check-ins: officers' questions, who is due and when, and each check-in's life."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.models import (
    Checkin,
    CheckinKind,
    CheckinQuestion,
    CheckinStatus,
    ConsentAnswer,
    PauseReason,
    QuestionKind,
    Resident,
    View,
    ViewTheme,
)
from bot.services.curation import visible
from bot.services.identities import chunks, reachable_channels
from bot.services.preferences import INTERVALS, pause, resume
from bot.services.targeting import checked_targets
from bot.services.views import NotAllowed, store_view
from bot.sms import is_gsm7, plain_text
from bot.targets import Targets

# The standing question's words, used when no officer's question is running (an ordinary
# open question). Changing them starts a new standing row: the old one stays standing.
DEFAULT_WORDING = "What's one thing about your area you'd change?"
MAX_QUESTION_CHARS = 250  # with "Hi from <organisation>. " it still fits two SMS
NO_REPLY_LIMIT = 2  # unanswered check-ins in a row before we pause and say so
FOREVER = datetime(9999, 1, 1, tzinfo=timezone.utc)


class InvalidQuestion(ValueError):
    """A question an officer cannot set as given."""


@dataclass(frozen=True)
class QuestionDraft:
    """What an officer writes: the question, its kind, whom it is for and when it runs."""

    wording: str
    starts_at: datetime
    kind: str = QuestionKind.OPEN  # a QuestionKind
    ask_why: bool = False  # a scale question asks "why?" after the rating
    themes: Sequence[str] = ()  # theme keys: only residents who spoke about one of them
    areas: Sequence[str] = ()  # postcode districts (or postcodes): only residents in one
    ends_at: datetime | None = None  # None: asked until it is ended

    def __post_init__(self) -> None:
        for name in ("themes", "areas"):  # tuples, not the caller's lists
            object.__setattr__(self, name, tuple(getattr(self, name)))


def checked_question(draft: QuestionDraft) -> dict[str, Any]:
    """A question's columns, tidied and checked; raises InvalidQuestion with a short reason."""
    wording = plain_text(draft.wording)
    if not wording:
        raise InvalidQuestion("the question is empty")
    if len(wording) > MAX_QUESTION_CHARS or not is_gsm7(wording):
        raise InvalidQuestion(
            f"the question must be at most {MAX_QUESTION_CHARS} plain SMS characters (no "
            "emoji), to fit two SMS with our greeting"
        )
    if draft.kind not in tuple(QuestionKind):
        raise InvalidQuestion("kind must be open or scale")
    if draft.ask_why and draft.kind != QuestionKind.SCALE:
        raise InvalidQuestion("only a scale question has a 'why?' follow-up")
    themes, districts = checked_targets(list(draft.themes), list(draft.areas), InvalidQuestion)
    if draft.ends_at is not None and draft.ends_at <= draft.starts_at:
        raise InvalidQuestion("the run window ends before it starts")
    return {
        "wording": wording,
        "kind": draft.kind,
        "ask_why": draft.ask_why,
        "targets": Targets(tuple(themes), tuple(districts), draft.starts_at, draft.ends_at),
    }


def add_question(session: Session, draft: QuestionDraft) -> CheckinQuestion:
    """Set a check-in question; raises InvalidQuestion with a short reason."""
    question = CheckinQuestion(**checked_question(draft))
    session.add(question)
    session.flush()
    return question


def default_question(session: Session) -> CheckinQuestion:
    """The standing open question (a row, so its answers link to a question too).

    A row marked `standing`, in today's DEFAULT_WORDING (made on first use).
    """
    question = session.scalars(
        select(CheckinQuestion)
        .where(CheckinQuestion.standing.is_(True), CheckinQuestion.wording == DEFAULT_WORDING)
        .order_by(CheckinQuestion.id)
    ).first()
    if question is None:
        question = CheckinQuestion(
            wording=DEFAULT_WORDING,
            kind=QuestionKind.OPEN,
            standing=True,
            targets=Targets(since=datetime(2000, 1, 1, tzinfo=timezone.utc)),
        )
        session.add(question)
        session.flush()
    return question


def current_question(session: Session, resident: Resident, now: datetime) -> CheckinQuestion:
    """The newest running question aimed at this resident and not yet put to them."""
    return questions_for(session, [resident], now)[resident.id]


def questions_for(
    session: Session, residents: Sequence[Resident], now: datetime
) -> dict[int, CheckinQuestion]:
    """`current_question` for many residents at once, in a few queries."""
    running = [
        question
        for question in session.scalars(
            select(CheckinQuestion)
            .where(CheckinQuestion.starts_at <= now, CheckinQuestion.standing.is_(False))
            .order_by(CheckinQuestion.starts_at.desc(), CheckinQuestion.id.desc())
        ).all()
        if question.ends_at is None or question.ends_at > now
    ]
    asked: dict[int, set[int]] = defaultdict(set)
    spoken_about: dict[int, set[str]] = defaultdict(set)
    for chunk in chunks([r.id for r in residents] if running else []):
        for resident_id, question_id in session.execute(
            select(Checkin.resident_id, Checkin.question_id).where(
                Checkin.resident_id.in_(chunk),
                Checkin.question_id.in_([q.id for q in running]),
            )
        ):
            asked[resident_id].add(question_id)
        for resident_id, theme_key in session.execute(
            select(View.resident_id, ViewTheme.theme_key)
            .join(ViewTheme, ViewTheme.view_id == View.id)
            .where(View.resident_id.in_(chunk), visible())
            .distinct()
        ):
            spoken_about[resident_id].add(theme_key)
    targets = [(q, q.targets) for q in running]
    fallback: CheckinQuestion | None = None
    chosen: dict[int, CheckinQuestion] = {}
    for resident in residents:
        for question, aimed in targets:
            if question.id in asked[resident.id]:
                continue
            if aimed.themes and not spoken_about[resident.id].intersection(aimed.themes):
                continue
            if aimed.districts and resident.area not in aimed.districts:
                continue
            chosen[resident.id] = question
            break
        else:
            fallback = fallback or default_question(session)
            chosen[resident.id] = fallback
    return chosen


@dataclass(frozen=True)
class Due:
    """A resident who should hear from us now."""

    resident_id: int
    conversation_id: str
    channel: str
    period: str
    kind: str  # a CheckinKind: PAUSE_NOTE after NO_REPLY_LIMIT unanswered
    question_id: int | None
    due_at: datetime  # when it fell due (its rhythm's date plus its jitter)


def jitter(resident_id: int, period: str, spread_minutes: int) -> timedelta:
    """A stable offset in [0, spread) so a whole town is not texted in the same minute."""
    if spread_minutes <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{resident_id}:{period}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:4], "big") % (spread_minutes * 60))


def due_checkins(session: Session, now: datetime, jitter_minutes: int) -> list[Due]:
    """Everyone due a check-in (or the pause note) at `now`, in a few queries per 500."""
    candidates = [
        resident
        for resident in session.scalars(
            select(Resident).where(
                Resident.consent == ConsentAnswer.GIVEN,
                Resident.contact_ok.is_(True),
                Resident.opted_out_at.is_(None),
                Resident.rhythm.in_(list(INTERVALS)),
            )
        ).all()
        if resident.paused_until is None or resident.paused_until <= now
    ]
    channels = reachable_channels(session, [r.id for r in candidates])
    history = _recent_sent(session, list(channels))
    due: list[tuple[Resident, str, str, bool, datetime]] = []
    for resident in candidates:
        if resident.id not in channels:
            continue
        closed = history.get(resident.id, [])  # sent or expired, newest first
        sent = [c for c in closed if c.status == CheckinStatus.SENT]
        # The next one follows the last that went out, or that expired unsent (so an
        # expired period is not owed again: the rhythm starts over from then).
        base = max(
            [resident.created_at]
            + [c.at for c in closed[:1] if c.at]
            + [resident.paused_until] * (resident.paused_until is not None)
        )
        due_on = base + INTERVALS[resident.rhythm]
        period = due_on.date().isoformat()
        due_at = due_on + jitter(resident.id, period, jitter_minutes)
        if due_at > now:
            continue
        recent = [c for c in sent if c.kind == CheckinKind.CHECKIN][:NO_REPLY_LIMIT]
        unanswered = len(recent) == NO_REPLY_LIMIT and all(c.answered_at is None for c in recent)
        due.append((resident, channels[resident.id], period, unanswered, due_at))
    questions = questions_for(session, [r for r, _, _, unanswered, _ in due if not unanswered], now)
    return [
        Due(
            resident_id=resident.id,
            conversation_id=resident.conversation_id,
            channel=channel,
            period=period,
            kind=CheckinKind.PAUSE_NOTE if unanswered else CheckinKind.CHECKIN,
            question_id=None if unanswered else questions[resident.id].id,
            due_at=due_at,
        )
        for resident, channel, period, unanswered, due_at in due
    ]


def _recent_sent(session: Session, resident_ids: list[int]) -> dict[int, list[Row]]:
    """Each resident's last NO_REPLY_LIMIT sent, and expired, check-ins of each kind.

    Newest first, by `at`: when it was sent, or when it expired unsent.
    """
    history: dict[int, list[Row]] = defaultdict(list)
    at = func.coalesce(Checkin.sent_at, Checkin.claimed_at)
    for chunk in chunks(resident_ids):
        ranked = (
            select(
                Checkin.resident_id,
                Checkin.kind,
                Checkin.status,
                at.label("at"),
                Checkin.answered_at,
                func.row_number()
                .over(
                    partition_by=(Checkin.resident_id, Checkin.kind, Checkin.status),
                    order_by=(at.desc(), Checkin.id.desc()),
                )
                .label("rank"),
            )
            .where(
                Checkin.resident_id.in_(chunk),
                Checkin.status.in_((CheckinStatus.SENT, CheckinStatus.EXPIRED)),
            )
            .subquery()
        )
        for row in session.execute(
            select(
                ranked.c.resident_id,
                ranked.c.kind,
                ranked.c.status,
                ranked.c.at,
                ranked.c.answered_at,
            )
            .where(ranked.c.rank <= NO_REPLY_LIMIT)
            .order_by(ranked.c.resident_id, ranked.c.at.desc())
        ):
            history[row.resident_id].append(row)
    return history


CLAIM_LEASE = timedelta(minutes=15)  # a claim still open after this was left by a dead pass


def claim(session: Session, due: Due, now: datetime) -> int | None:
    """Reserve this period's check-in; None if another pass holds or has sent it.

    A check-in that failed (Rasa, the action server or the provider refused it), or whose
    claim was left open by a pass that died, is claimed again in the same period.
    """
    values = {
        "kind": due.kind,
        "question_id": due.question_id,
        "channel": due.channel,
        "status": CheckinStatus.CLAIMED,
        "claimed_at": now,
    }
    existing = session.scalars(
        select(Checkin).where(Checkin.resident_id == due.resident_id, Checkin.period == due.period)
    ).one_or_none()
    if existing is None:
        checkin = Checkin(resident_id=due.resident_id, period=due.period, **values)
        try:
            with session.begin_nested():
                session.add(checkin)
            return checkin.id
        except IntegrityError:
            return None
    stale = now - CLAIM_LEASE
    retaken = session.execute(
        update(Checkin)
        .where(
            Checkin.id == existing.id,
            or_(
                Checkin.status == CheckinStatus.FAILED,
                and_(
                    Checkin.status == CheckinStatus.CLAIMED,
                    or_(Checkin.claimed_at.is_(None), Checkin.claimed_at < stale),
                ),
            ),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return existing.id if retaken.rowcount == 1 else None


def mark_sent(session: Session, checkin_id: int, now: datetime) -> None:
    """The check-in left (the provider took it); a pause note also pauses the resident."""
    checkin = session.get(Checkin, checkin_id)
    checkin.status = CheckinStatus.SENT
    checkin.sent_at = now
    if checkin.kind == CheckinKind.PAUSE_NOTE:
        resident = session.get(Resident, checkin.resident_id)
        pause(session, resident, FOREVER, reason=PauseReason.NO_REPLY)


def mark_failed(session: Session, checkin_id: int) -> None:
    """Nothing left: Rasa, its action server or the provider failed. Tried again next pass."""
    session.get(Checkin, checkin_id).status = CheckinStatus.FAILED


def too_late(due: Due, now: datetime, validity: timedelta) -> bool:
    """Whether a check-in claimed at `now` is more than `validity` past its due time."""
    return now - due.due_at > validity


def mark_expired(session: Session, checkin_id: int, now: datetime) -> None:
    """Not sent, and never will be: claimed more than the validity period after it was due
    (the scheduler, Rasa or the provider was down). The next follows a rhythm after `now`."""
    checkin = session.get(Checkin, checkin_id)
    checkin.status = CheckinStatus.EXPIRED
    checkin.claimed_at = now


# Built once: every message asks it (building it costs more than running it).
_LATEST_SENT = (
    select(Checkin)
    .where(
        Checkin.resident_id == bindparam("resident_id"),
        Checkin.status == CheckinStatus.SENT,
        Checkin.kind == CheckinKind.CHECKIN,
    )
    .order_by(Checkin.sent_at.desc())
)


def resident_wrote(session: Session, resident: Resident, now: datetime) -> None:
    """Any message from a resident answers their open check-in and ends a no-reply pause."""
    latest = session.scalars(_LATEST_SENT, {"resident_id": resident.id}).first()
    if latest is not None and latest.answered_at is None:
        latest.answered_at = now
    if resident.pause_reason == PauseReason.NO_REPLY:
        resume(session, resident)


def checkin_for(session: Session, checkin_id: int, conversation_id: str) -> Checkin | None:
    """A check-in, only if it belongs to this conversation's resident."""
    checkin = session.get(Checkin, checkin_id)
    if checkin is None:
        return None
    resident = session.get(Resident, checkin.resident_id)
    return checkin if resident.conversation_id == conversation_id else None


def answer_checkin(
    session: Session,
    checkin_id: int,
    conversation_id: str,
    *,
    text: str,
    theme_key: str | None,
    confidence: float | None,
    channel: str,
    rating: int | None = None,
    inbox_id: int | None = None,
) -> CheckinQuestion | None:
    """Store a view answering the resident's own check-in; its question, or None if not theirs."""
    checkin = checkin_for(session, checkin_id, conversation_id)
    resident = session.get(Resident, checkin.resident_id) if checkin else None
    if checkin is None or resident is None:
        return None
    store_view(
        session,
        resident,
        text=text,
        theme_key=theme_key,
        confidence=confidence,
        channel=channel,
        question_id=checkin.question_id,
        rating=rating,
        inbox_id=inbox_id,
    )
    return session.get(CheckinQuestion, checkin.question_id)


@dataclass(frozen=True)
class QuestionToAsk:
    """The question a check-in puts to its resident: its words and kind ("open", "scale")."""

    wording: str
    kind: str


def question_to_ask(
    session: Session, conversation_id: str, checkin_id: int
) -> QuestionToAsk | None:
    """The question of this conversation's check-in (None: not theirs, or no question)."""
    checkin = checkin_for(session, checkin_id, conversation_id)
    if checkin is None or checkin.question_id is None:
        return None
    question = session.get(CheckinQuestion, checkin.question_id)
    return QuestionToAsk(question.wording, question.kind)


@dataclass(frozen=True)
class CheckinAnswered:
    """An answer kept against a check-in, and whether its question asks why next."""

    ask_why: bool


def give_checkin_answer(
    session: Session,
    conversation_id: str,
    checkin_id: int,
    *,
    text: str,
    theme_key: str | None,
    confidence: float | None,
    channel: str,
    rating: int | None = None,
    inbox_id: int | None = None,
) -> CheckinAnswered | None:
    """The resident in this conversation answers their check-in (an open answer or a 1-5
    rating, kept as a view); None if it is not theirs, they have not consented, or there is
    nothing to keep (no words, a rating outside 1-5)."""
    try:
        question = answer_checkin(
            session,
            checkin_id,
            conversation_id,
            text=text,
            theme_key=theme_key,
            confidence=confidence,
            channel=channel,
            rating=rating,
            inbox_id=inbox_id,
        )
    except (NotAllowed, ValueError):
        return None
    return None if question is None else CheckinAnswered(bool(question.ask_why))
