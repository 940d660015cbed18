"""Our speed-ups of Rasa's own hot spots accept, refuse and find exactly what Rasa does."""

from __future__ import annotations

from datetime import datetime

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    Event,
    FollowupAction,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.utils.common import all_subclasses

from channels.inbox import (
    _action_result_validator,
    _surely_valid,
    _validate_action_result,
    speed_up_event_lookup,
)

EVENTS = [
    UserUttered("hi", {"name": "greet", "confidence": 0.9}, message_id="m1").as_dict(),
    ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0).as_dict(),
    SlotSet("theme", "housing").as_dict(),
    SlotSet("theme", None).as_dict(),
    BotUttered("Thanks", {"buttons": [{"title": "Yes", "payload": "/affirm"}]}).as_dict(),
    SessionStarted().as_dict(),
    ActiveLoop(None).as_dict(),
    FollowupAction("action_listen").as_dict(),
    AllSlotsReset().as_dict(),
    Restarted().as_dict(),
    ReminderScheduled("remind", trigger_date_time=datetime(2030, 1, 1)).as_dict(),
]
VALID = [
    {},
    {"events": [], "responses": []},
    {"events": EVENTS, "responses": [{"text": "hi", "buttons": []}]},
    {"events": [{"event": "bot", "timestamp": None, "metadata": None}]},
]
INVALID = [
    [],
    "events",
    {"events": "slot"},
    {"events": [1]},
    {"events": [{}]},
    {"events": [{"name": "theme", "value": 1}]},  # no event name
    {"events": [{"event": "nonsense"}]},
    {"events": [{"event": 3}]},
    {"events": [{"event": "slot", "name": "theme"}]},  # a slot with no value
    {"events": [{"event": "slot", "name": 3, "value": 1}]},
    {"events": [{"event": "bot", "timestamp": "noon"}]},
    {"events": [{"event": "user", "parse_data": {"intent": {"name": 3}}}]},
    {"events": [{"event": "entities"}]},
    {"events": [*EVENTS, {"event": "action", "hide_rule_turn": "yes"}]},
    {"responses": [1]},
    {"responses": "hi"},
]


@pytest.mark.parametrize("answer", VALID + INVALID)
def test_the_split_check_agrees_with_rasas_whole_schema(answer):
    assert _surely_valid(answer) == _action_result_validator().is_valid(answer)


@pytest.mark.parametrize("answer", VALID)
def test_a_valid_answer_is_accepted(answer):
    assert _validate_action_result(RemoteAction("action_x", None), answer) is True


@pytest.mark.parametrize("answer", INVALID)
def test_an_invalid_answer_is_refused_with_rasas_error(answer):
    with pytest.raises(jsonschema.ValidationError):
        _validate_action_result(RemoteAction("action_x", None), answer)


def test_each_event_name_finds_the_class_rasas_walk_finds():
    def walk(name):
        return next((c for c in all_subclasses(Event) if c.type_name == name), None)

    names = {cls.type_name for cls in all_subclasses(Event)}
    speed_up_event_lookup()
    speed_up_event_lookup()  # once is enough; again changes nothing
    for name in names:
        assert Event.resolve_by_type(name) is walk(name)
    assert [type(Event.from_parameters(e)) for e in EVENTS] == [
        UserUttered,
        ActionExecuted,
        SlotSet,
        SlotSet,
        BotUttered,
        SessionStarted,
        ActiveLoop,
        FollowupAction,
        AllSlotsReset,
        Restarted,
        ReminderScheduled,
    ]


def test_an_unknown_event_name_is_decided_as_rasa_decides():
    speed_up_event_lookup()
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("nonsense", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("nonsense")


def test_an_event_class_made_later_is_found_too():
    speed_up_event_lookup()
    Event.resolve_by_type("slot")  # the table is built

    class Waved(SlotSet):
        type_name = "test_waved"

    assert Event.resolve_by_type("test_waved") is Waved
