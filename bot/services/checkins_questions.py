"""Officers' check-in questions: the message residents read, who it would reach, the answers
so far, adding one and ending one early. The console and `engage checkins` both call these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.models import (
    Checkin,
    CheckinQuestion,
    CheckinStatus,
    ConsentAnswer,
    QuestionKind,
    Resident,
    State,
    View,
    ViewTheme,
    utcnow,
)
from bot.services import audit
from bot.services.checkins import InvalidQuestion, QuestionDraft, add_question
from bot.services.curation import visible
from bot.services.identities import reachable_channels
from bot.services.preferences import INTERVALS
from bot.services.targeting import checked_targets
from bot.sms import MAX_SEGMENTS, plain_text, segments
from bot.targets import Targets
from bot.wording import render

SCALE = (1, 2, 3, 4, 5)


class QuestionStatus(State):
    """Where a question is in its run window (worked out, not stored), in listing order."""

    RUNNING = "running"
    PLANNED = "planned"
    ENDED = "ended"


STATUSES = tuple(QuestionStatus)


class UnknownQuestion(InvalidQuestion):
    """There is no check-in question with that number."""


def question_message(wording: str, org_name: str) -> str:
    """The check-in message as residents read it (domain.yml's utter_checkin_question)."""
    return render("utter_checkin_question", org_name=org_name, question=plain_text(wording))


@dataclass(frozen=True)
class MessagePreview:
    """A check-in message and its size as an SMS."""

    text: str
    characters: int
    encoding: str  # "GSM-7" or "UCS-2"
    sms: int  # segments

    @property
    def too_long(self) -> bool:
        """More SMS than any bot message may take."""
        return self.sms > MAX_SEGMENTS


def preview_message(wording: str, org_name: str) -> MessagePreview:
    """The message residents will read, with its length and SMS count (bot/sms.py)."""
    text = question_message(wording, org_name)
    encoding, count = segments(text)
    return MessagePreview(text, len(text), encoding, count)


def reach(session: Session, targets: Targets | None = None, now: datetime | None = None) -> int:
    """How many residents a question for `targets` would be put to, as things are.

    Those who get check-ins (consented, may be contacted, not opted out, not paused, a
    check-in rhythm), can be reached on SMS or Telegram, live in one of its districts and
    gave a (visible) view about one of its themes; no themes or no districts do not narrow
    it (None: everyone who gets check-ins).
    """
    now, targets = now or utcnow(), targets or Targets()
    query = select(Resident.id).where(
        Resident.consent == ConsentAnswer.GIVEN,
        Resident.contact_ok.is_(True),
        Resident.opted_out_at.is_(None),
        Resident.erased_at.is_(None),
        Resident.rhythm.in_(list(INTERVALS)),
        or_(Resident.paused_until.is_(None), Resident.paused_until <= now),
    )
    if targets.districts:
        query = query.where(Resident.area.in_(list(targets.districts)))
    if targets.themes:
        spoke = (
            select(View.resident_id)
            .join(ViewTheme, ViewTheme.view_id == View.id)
            .where(ViewTheme.theme_key.in_(list(targets.themes)), visible())
        )
        query = query.where(Resident.id.in_(spoke))
    return len(reachable_channels(session, list(session.scalars(query))))


def reach_of(session: Session, draft: QuestionDraft, now: datetime | None = None) -> int:
    """`reach` for a draft's themes and districts as an officer typed them (checked:
    InvalidQuestion if unknown)."""
    themes, districts = checked_targets(list(draft.themes), list(draft.areas), InvalidQuestion)
    return reach(session, Targets(tuple(themes), tuple(districts)), now)


def reach_of_question(
    session: Session, question: CheckinQuestion, now: datetime | None = None
) -> int:
    """`reach` for a question's own themes and districts."""
    return reach(session, question.targets, now)


@dataclass(frozen=True)
class QuestionResults:
    """A question, where it is in its run, and its answers so far (hidden views left out)."""

    id: int
    wording: str
    kind: str  # a QuestionKind
    ask_why: bool
    themes: list[str]
    areas: list[str]
    starts_at: datetime
    ends_at: datetime | None
    status: str  # a QuestionStatus
    standing: bool  # the default open question, asked when no other applies
    asked: int  # check-ins that went out with it
    residents: int  # residents who answered
    answers: int  # views answering it (for a scale: ratings and their whys)
    ratings: dict[int, int] = field(default_factory=dict)  # 1..5 -> how many (scale only)
    comments: int = 0  # answers in words (an open answer, or why after a rating)

    @property
    def rated(self) -> int:
        """How many ratings it received."""
        return sum(self.ratings.values())

    @property
    def mean(self) -> float | None:
        """The mean rating, or None without ratings."""
        if not self.rated:
            return None
        return sum(n * count for n, count in self.ratings.items()) / self.rated


def _distribution(counts: Counter[int] | None) -> dict[int, int]:
    """Ratings 1 to 5 and how many of each (zeros included)."""
    return {n: (counts or Counter())[n] for n in SCALE}


def status_of(question: CheckinQuestion, now: datetime) -> QuestionStatus:
    """ENDED once its end has passed, PLANNED before its start, else RUNNING."""
    if question.ends_at is not None and question.ends_at <= now:
        return QuestionStatus.ENDED
    return QuestionStatus.PLANNED if question.starts_at > now else QuestionStatus.RUNNING


def list_questions(session: Session, now: datetime | None = None) -> list[QuestionResults]:
    """Every question with its answers: running (newest first), planned, then ended."""
    now = now or utcnow()
    questions = session.scalars(select(CheckinQuestion)).all()
    asked = dict(
        session.execute(
            select(Checkin.question_id, func.count())
            .where(Checkin.question_id.is_not(None), Checkin.status == CheckinStatus.SENT)
            .group_by(Checkin.question_id)
        ).all()
    )
    answers: Counter[int] = Counter()
    comments: Counter[int] = Counter()
    residents: Counter[int] = Counter()
    ratings: dict[int, Counter[int]] = {}
    for question_id, rating, views in session.execute(
        select(View.question_id, View.rating, func.count())
        .where(View.question_id.is_not(None), visible())
        .group_by(View.question_id, View.rating)
    ):
        answers[question_id] += views
        if rating is None:
            comments[question_id] += views
        else:
            ratings.setdefault(question_id, Counter())[rating] += views
    for question_id, people in session.execute(
        select(View.question_id, func.count(View.resident_id.distinct()))
        .where(View.question_id.is_not(None), visible())
        .group_by(View.question_id)
    ):
        residents[question_id] = people
    found = [
        QuestionResults(
            id=q.id,
            wording=q.wording,
            kind=q.kind,
            ask_why=q.ask_why,
            themes=list(q.targets.themes),
            areas=list(q.targets.districts),
            starts_at=q.starts_at,
            ends_at=q.ends_at,
            status=status_of(q, now),
            standing=q.standing,
            asked=asked.get(q.id, 0),
            residents=residents[q.id],
            answers=answers[q.id],
            ratings=_distribution(ratings.get(q.id)) if q.kind == QuestionKind.SCALE else {},
            comments=comments[q.id],
        )
        for q in questions
    ]
    order: dict[str, int] = {status: i for i, status in enumerate(STATUSES)}

    def _key(q: QuestionResults) -> tuple:
        if q.status == QuestionStatus.RUNNING:
            return (order[q.status], -q.starts_at.timestamp(), -q.id)
        if q.status == QuestionStatus.PLANNED:
            return (order[q.status], q.starts_at.timestamp(), q.id)
        return (order[q.status], -(q.ends_at or q.starts_at).timestamp(), -q.id)

    return sorted(found, key=_key)


def add_question_recorded(
    session: Session, draft: QuestionDraft, *, actor: str, remote_addr: str | None = None
) -> CheckinQuestion:
    """Set a question (as `add_question`) and audit it, "checkin.add"; InvalidQuestion if wrong."""
    question = add_question(session, draft)
    audit.record(
        session,
        actor=actor,
        action="checkin.add",
        target=f"question:{question.id}",
        detail={
            "kind": draft.kind,
            "themes": list(question.targets.themes),
            "areas": list(question.targets.districts),
        },
        remote_addr=remote_addr,
    )
    return question


def end_question(
    session: Session,
    question_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    remote_addr: str | None = None,
) -> CheckinQuestion:
    """Stop asking a question from now on (audited, "checkin.end").

    Raises UnknownQuestion if there is none, InvalidQuestion if it has already ended or is
    the standing question (asked whenever no other applies: it cannot end).
    """
    now = now or utcnow()
    question = session.scalars(
        select(CheckinQuestion).where(CheckinQuestion.id == question_id).with_for_update()
    ).one_or_none()
    if question is None:
        raise UnknownQuestion(f"there is no question {question_id}")
    if question.standing:
        raise InvalidQuestion("the standing question is asked when no other applies: it cannot end")
    if status_of(question, now) == QuestionStatus.ENDED:
        raise InvalidQuestion(f"question {question_id} has already ended")
    planned = question.starts_at > now
    question.ends_at = now
    if planned:  # never started: its window is now empty, and still in order
        question.starts_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="checkin.end",
        target=f"question:{question_id}",
        detail={"before_start": planned},
        remote_addr=remote_addr,
    )
    return question
