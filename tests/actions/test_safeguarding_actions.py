"""The safeguarding action: signposting first and alone, an alert instead of a view."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from actions.safeguarding import ActionSafeguard
from bot.models import SafeguardingAlert, View
from tests.actions.conftest import make_tracker, responses


@pytest.mark.parametrize("kind", ["danger_now", "self_harm", "abuse", "crime_report"])
@pytest.mark.parametrize(
    "slots",
    [
        {},  # before consent
        {"consent": "given", "stage": "checkin_open", "checkin_id": 4},  # mid check-in
        {"consent": "given", "opted_out": True},  # after STOP
    ],
)
async def test_each_kind_in_any_state(database, settings, dispatcher, domain, kind, slots):
    tracker = make_tracker(intent=kind, text="something terrible", slots=slots)
    events = await ActionSafeguard(database, settings).run(dispatcher, tracker, domain)
    assert events == []  # the conversation waits for what it waited for before
    assert responses(dispatcher) == [f"utter_safeguard_{kind}"]
    sent = dispatcher.messages[0]
    assert sent["emergency_number"] == "999" and sent["samaritans_number"] == "116 123"
    with database.transaction() as s:
        [alert] = s.scalars(select(SafeguardingAlert)).all()
        assert (alert.kind, alert.text, alert.channel) == (kind, "something terrible", "rest")
        assert s.scalars(select(View)).all() == []


async def test_the_councils_own_route_follows_when_set(database, settings, dispatcher, domain):
    local = replace(settings, safeguarding_contact="Leeds Safeguarding Hub on 0113 222 4401")
    tracker = make_tracker(intent="self_harm", text="i want to end my life")
    await ActionSafeguard(database, local).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_safeguard_self_harm", "utter_safeguarding_contact"]
    assert dispatcher.messages[1]["safeguarding_contact"].startswith("Leeds Safeguarding Hub")


async def test_not_a_safeguarding_intent_does_nothing(database, settings, dispatcher, domain):
    tracker = make_tracker(intent="share_view", text="the bins")
    assert await ActionSafeguard(database, settings).run(dispatcher, tracker, domain) == []
    assert dispatcher.messages == []
