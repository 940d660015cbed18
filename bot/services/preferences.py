"""How often a resident hears from us: rhythm changes and pauses, kept with their history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.models import CheckinRhythm, ConsentAnswer, PauseReason, PreferenceEvent, Resident, utcnow
from bot.services.residents import find_resident

RHYTHMS = tuple(CheckinRhythm)  # most to least often
INTERVALS = {
    CheckinRhythm.FORTNIGHTLY: timedelta(days=14),
    CheckinRhythm.MONTHLY: timedelta(days=30),
}
DEFAULT_PAUSE = timedelta(days=91)  # "pause" without a length: three months


@dataclass(frozen=True)
class Rhythm:
    """How often a consented resident hears from us now."""

    rhythm: str
    paused_until: datetime | None


def rhythm_of(session: Session, conversation_id: str) -> Rhythm | None:
    """The rhythm of the resident in this conversation (None: not a consented resident)."""
    resident = find_resident(session, conversation_id)
    if (
        resident is None
        or resident.consent != ConsentAnswer.GIVEN
        or resident.opted_out_at is not None
    ):
        return None
    paused = resident.paused_until
    return Rhythm(resident.rhythm, paused if paused and paused > utcnow() else None)


def _record(session: Session, resident: Resident, reason: str) -> None:
    session.add(
        PreferenceEvent(
            resident_id=resident.id,
            rhythm=resident.rhythm,
            paused_until=resident.paused_until,
            reason=reason,
        )
    )
    session.flush()


def set_rhythm(session: Session, resident: Resident, rhythm: str) -> None:
    """Check in monthly, fortnightly, or only send updates; ends any pause."""
    if rhythm not in RHYTHMS:
        raise ValueError(f"unknown rhythm {rhythm!r}")
    resident.rhythm = rhythm
    resident.paused_until = None
    resident.pause_reason = None
    _record(session, resident, PauseReason.ASKED)


def less_often(session: Session, resident: Resident) -> str:
    """One step less often (fortnightly -> monthly -> updates only); returns the new rhythm."""
    index = RHYTHMS.index(resident.rhythm) if resident.rhythm in RHYTHMS else 1
    set_rhythm(session, resident, RHYTHMS[min(index + 1, len(RHYTHMS) - 1)])
    return resident.rhythm


def pause(
    session: Session, resident: Resident, until: datetime, reason: str = PauseReason.ASKED
) -> None:
    """No check-ins until `until` ("asked" by them, or "no_reply" after two unanswered)."""
    resident.paused_until = until
    resident.pause_reason = reason
    _record(session, resident, reason)


def resume(session: Session, resident: Resident) -> bool:
    """End a pause; False if there was none."""
    if resident.paused_until is None:
        return False
    resident.paused_until = None
    resident.pause_reason = None
    _record(session, resident, PauseReason.RESUMED)
    return True


LESS_OFTEN, PAUSE, RESUME = "less_often", "pause", "resume"  # changes besides a rhythm


@dataclass(frozen=True)
class RhythmChanged:
    """How often the resident hears from us after a change, and whether a pause ended."""

    rhythm: str
    paused_until: datetime | None
    resumed: bool = False


def change_rhythm(
    session: Session,
    conversation_id: str,
    change: str,
    *,
    pause_for: timedelta = DEFAULT_PAUSE,
) -> RhythmChanged | None:
    """The resident in this conversation asks for a rhythm (one of RHYTHMS), LESS_OFTEN,
    a PAUSE of `pause_for` from now, or to RESUME; None if they have not consented."""
    resident = find_resident(session, conversation_id)
    if resident is None or resident.consent != ConsentAnswer.GIVEN:
        return None
    resumed = False
    if change in RHYTHMS:
        set_rhythm(session, resident, change)
    elif change == LESS_OFTEN:
        less_often(session, resident)
    elif change == PAUSE:
        pause(session, resident, utcnow() + pause_for)
    elif change == RESUME:
        resumed = resume(session, resident)
    else:
        raise ValueError(f"unknown change {change!r}")
    return RhythmChanged(resident.rhythm, resident.paused_until, resumed)
