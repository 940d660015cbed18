"""How often a resident hears from us, changed from their conversation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.models import PreferenceEvent, utcnow
from bot.services.consent import opt_out
from bot.services.preferences import (
    LESS_OFTEN,
    PAUSE,
    RESUME,
    RhythmChanged,
    change_rhythm,
    rhythm_of,
)
from bot.services.residents import find_resident
from tests.residents import add_resident


def test_a_rhythm_is_set_and_less_often_steps_down(database):
    with database.transaction() as s:
        add_resident(s, "rest", "conv-1")
        assert change_rhythm(s, "conv-1", "fortnightly") == RhythmChanged("fortnightly", None)
        assert change_rhythm(s, "conv-1", LESS_OFTEN) == RhythmChanged("monthly", None)
        assert change_rhythm(s, "conv-1", LESS_OFTEN) == RhythmChanged("updates_only", None)
        assert change_rhythm(s, "conv-1", LESS_OFTEN) == RhythmChanged("updates_only", None)
        reasons = s.scalars(select(PreferenceEvent.reason)).all()
    assert reasons == ["asked"] * 4  # each change kept with their history


def test_a_pause_lasts_as_long_as_asked_and_resuming_ends_it_once(database):
    with database.transaction() as s:
        add_resident(s, "rest", "conv-1")
        before = utcnow()
        paused = change_rhythm(s, "conv-1", PAUSE, pause_for=timedelta(weeks=2))
        assert paused is not None and paused.rhythm == "monthly" and not paused.resumed
        assert before + timedelta(weeks=2) <= paused.paused_until <= utcnow() + timedelta(weeks=2)
        assert rhythm_of(s, "conv-1").paused_until == paused.paused_until
        assert change_rhythm(s, "conv-1", RESUME) == RhythmChanged("monthly", None, resumed=True)
        assert change_rhythm(s, "conv-1", RESUME) == RhythmChanged("monthly", None, resumed=False)
        assert find_resident(s, "conv-1").pause_reason is None


def test_a_rhythm_change_ends_a_pause(database):
    with database.transaction() as s:
        add_resident(s, "rest", "conv-1")
        change_rhythm(s, "conv-1", PAUSE)
        assert change_rhythm(s, "conv-1", "updates_only") == RhythmChanged("updates_only", None)


def test_only_a_consented_resident_changes_their_rhythm(database):
    with database.transaction() as s:
        assert change_rhythm(s, "nobody", "monthly") is None
        add_resident(s, "rest", "refused", consent=False)
        assert change_rhythm(s, "refused", PAUSE) is None
        assert find_resident(s, "refused").paused_until is None
        # Opted out but consented: the rhythm they choose waits for their return.
        opt_out(s, add_resident(s, "rest", "left"), channel="rest")
        assert change_rhythm(s, "left", "fortnightly") == RhythmChanged("fortnightly", None)
        with pytest.raises(ValueError):
            change_rhythm(s, "left", "hourly")
