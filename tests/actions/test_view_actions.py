"""Storing views, choosing and correcting themes, area, summaries and the lead back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.lead_back import ActionLeadBack
from actions.my_data import ActionSummariseViews
from actions.views import (
    ActionAskView,
    ActionFinishViews,
    ActionSetTheme,
    ActionStoreArea,
    ActionStoreView,
)
from bot.models import Resident, View
from bot.services.consent import opt_out
from bot.services.residents import find_resident
from bot.services.views import set_area, store_view
from tests.actions.conftest import SENDER, make_tracker, responses, slots

GIVEN = {"consent": "given"}
LOW = [("waste_recycling", 0.31), ("parks_green_spaces", 0.22), ("community_safety", 0.2)]


def stored(database) -> list[View]:
    with database.transaction() as s:
        return list(s.scalars(select(View).order_by(View.id)))


async def test_a_clear_view_is_stored_and_confirmed(
    database, settings, dispatcher, domain, consented
):
    tracker = make_tracker(text="the buses stop at 6", theme=("roads_transport", 0.91), slots=GIVEN)
    events = await ActionStoreView(database, settings).run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_view_noted"
    assert dispatcher.messages[0]["theme_label"] == "Roads & transport"
    [view] = stored(database)
    assert (view.text, view.theme_key, view.confidence) == (
        "the buses stop at 6",
        "roads_transport",
        0.91,
    )
    assert slots(events) == {"pending_view_id": view.id, "stage": "more"}


async def test_an_unclear_view_is_stored_and_the_theme_asked(
    database, settings, dispatcher, domain, consented
):
    tracker = make_tracker(
        text="needs sorting", theme=LOW[0], ranking=[*LOW, ("housing", 0.1)], slots=GIVEN
    )
    events = await ActionStoreView(database, settings).run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_ask_theme"
    assert [b["title"] for b in message["buttons"]] == [
        "Rubbish & recycling", "Parks & green spaces", "Community safety", "Something else",
    ]  # fmt: skip
    assert message["buttons"][0]["payload"] == '/set_theme{"theme":"waste_recycling"}'
    assert slots(events)["stage"] == "theme"
    assert slots(events)["theme_choices"] == [k for k, _ in LOW]
    assert stored(database)[0].theme_key == "waste_recycling"


async def test_no_consent_means_we_introduce_ourselves_and_store_nothing(
    database, settings, dispatcher, domain
):
    tracker = make_tracker(text="bins", theme=("waste_recycling", 0.9))
    events = await ActionStoreView(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_intro", "utter_ask_consent"]
    assert slots(events)["stage"] == "consent"
    assert [m["text"] for m in slots(events)["held_views"]] == ["bins"]  # in the tracker only
    assert stored(database) == []


async def test_a_refusal_after_consent_does_not_hold_words(database, settings, dispatcher, domain):
    tracker = make_tracker(
        text="bins", theme=("waste_recycling", 0.9), slots={"consent": "refused"}
    )
    events = await ActionStoreView(database, settings).run(dispatcher, tracker, domain)
    assert "held_views" not in slots(events)
    assert stored(database) == []


async def test_a_typed_intent_payload_is_not_stored_as_a_view(
    database, settings, dispatcher, domain, consented
):
    tracker = make_tracker(text="/share_view", theme=("housing", 0.9), slots=GIVEN)
    await ActionStoreView(database, settings).run(dispatcher, tracker, domain)
    assert stored(database) == []
    assert responses(dispatcher) == ["utter_ask_view"]


async def test_opted_out_in_the_database_wins_over_stale_slots(
    database, settings, dispatcher, domain, consented
):
    with database.transaction() as s:
        opt_out(s, find_resident(s, SENDER), channel="sms")
    tracker = make_tracker(text="bins", theme=("waste_recycling", 0.9), slots=GIVEN)
    await ActionStoreView(database, settings).run(dispatcher, tracker, domain)
    assert stored(database) == []


async def _pending_view(database) -> int:
    with database.transaction() as s:
        resident = find_resident(s, SENDER)
        return store_view(
            s, resident, text="t", theme_key="waste_recycling", confidence=0.3, channel="rest"
        ).id


@pytest.mark.parametrize(
    ("tracker_args", "expected_theme"),
    [
        ({"entities": [{"entity": "theme", "value": "parks_green_spaces"}]}, "parks_green_spaces"),
        ({"entities": [{"entity": "theme", "value": "other"}]}, None),  # "Something else"
        ({"text": "something else"}, None),
        ({"text": "its the parks one", "theme": ("parks_green_spaces", 0.8)}, "parks_green_spaces"),
    ],
)
async def test_the_resident_chooses_a_theme(
    database, settings, dispatcher, domain, consented, tracker_args, expected_theme
):
    view_id = await _pending_view(database)
    choices = [k for k, _ in LOW]
    tracker = make_tracker(
        intent="set_theme",
        slots={**GIVEN, "stage": "theme", "pending_view_id": view_id, "theme_choices": choices},
        **tracker_args,
    )
    events = await ActionSetTheme(database, settings).run(dispatcher, tracker, domain)
    [view] = stored(database)
    assert (view.theme_key, view.theme_source) == (expected_theme, "resident")
    expected = "utter_theme_chosen" if expected_theme else "utter_theme_other"
    assert responses(dispatcher) == [expected]
    assert slots(events) == {"stage": "more", "theme_choices": None}


@pytest.mark.parametrize(
    "tracker_args",
    [
        {"entities": [{"entity": "theme", "value": "aliens"}]},  # forged button payload
        {"text": "9"},
        {"text": "hmm dunno", "theme": ("housing", 0.2)},
    ],
)
async def test_an_unclear_choice_asks_again(
    database, settings, dispatcher, domain, consented, tracker_args
):
    view_id = await _pending_view(database)
    choices = [k for k, _ in LOW]
    tracker = make_tracker(
        intent="set_theme",
        slots={**GIVEN, "stage": "theme", "pending_view_id": view_id, "theme_choices": choices},
        **tracker_args,
    )
    await ActionSetTheme(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_ask_theme"]
    assert stored(database)[0].theme_source == "model"


async def test_the_resident_corrects_the_theme(database, settings, dispatcher, domain, consented):
    view_id = await _pending_view(database)
    tracker = make_tracker(
        intent="set_theme",
        text="no its about the council not fixing my flat",
        theme=("housing", 0.88),
        slots={**GIVEN, "stage": "more", "pending_view_id": view_id},
    )
    await ActionSetTheme(database, settings).run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_theme_corrected"
    assert dispatcher.messages[0]["theme_label"] == "Housing"
    assert stored(database)[0].theme_key == "housing"


async def test_a_theme_without_a_view_leads_back(database, settings, dispatcher, domain):
    tracker = make_tracker(intent="set_theme", text="housing", slots={**GIVEN, "stage": None})
    await ActionSetTheme(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_ask_view"]


async def test_someone_else_s_view_cannot_be_changed(database, settings, dispatcher, domain):
    with database.transaction() as s:
        other = Resident(conversation_id="someone-else", consent="given")
        s.add(other)
        s.flush()
        view_id = store_view(
            s, other, text="t", theme_key="housing", confidence=0.9, channel="rest"
        ).id
    tracker = make_tracker(
        intent="set_theme",
        theme=("parks_green_spaces", 0.9),
        slots={**GIVEN, "stage": "more", "pending_view_id": view_id},
    )
    await ActionSetTheme(database, settings).run(dispatcher, tracker, domain)
    assert stored(database)[0].theme_key == "housing"


async def test_ask_another_view(database, settings, dispatcher, domain):
    events = await ActionAskView(database, settings).run(dispatcher, make_tracker(), domain)
    assert responses(dispatcher) == ["utter_ask_another_view"]
    assert slots(events) == {"stage": "view"}


async def test_finishing_asks_for_the_area_once(database, settings, dispatcher, domain, consented):
    tracker = make_tracker(intent="done", slots={**GIVEN, "stage": "more", "pending_view_id": 1})
    events = await ActionFinishViews(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_ask_area"]
    assert slots(events) == {"stage": "area"}

    skip = type(dispatcher)()
    tracker = make_tracker(intent="deny", slots={**GIVEN, "stage": "area", "pending_view_id": 1})
    events = await ActionFinishViews(database, settings).run(skip, tracker, domain)
    assert responses(skip) == ["utter_thanks_bye"]
    assert slots(events) == {"stage": None, "pending_view_id": None}


async def test_finishing_with_a_known_area_closes(
    database, settings, dispatcher, domain, consented
):
    with database.transaction() as s:
        set_area(s, find_resident(s, SENDER), "LS6")
    tracker = make_tracker(intent="done", slots={**GIVEN, "stage": "more", "pending_view_id": 1})
    await ActionFinishViews(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_thanks_bye"]


async def test_area_answer_keeps_only_the_district(
    database, settings, dispatcher, domain, consented
):
    tracker = make_tracker(
        intent="give_area",
        text="its ls6 3ab",
        slots={**GIVEN, "stage": "area"},
    )
    events = await ActionStoreArea(database, settings).run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["response"] == "utter_area_noted_bye"
    assert dispatcher.messages[0]["area"] == "LS6"
    assert slots(events) == {"stage": None, "pending_view_id": None}
    with database.transaction() as s:
        assert find_resident(s, SENDER).area == "LS6"


async def test_an_invalid_area_is_asked_again(database, settings, dispatcher, domain, consented):
    tracker = make_tracker(intent="give_area", text="QQ99", slots={**GIVEN, "stage": "area"})
    events = await ActionStoreArea(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_area_invalid"]
    assert events == []


async def test_an_area_answer_that_is_not_a_district_twice_is_skipped(
    database, settings, dispatcher, domain, consented
):
    tracker = make_tracker(
        intent="share_view", text="dunno, near the park", slots={**GIVEN, "stage": "area"}
    )
    tracker.events.insert(0, {"event": "bot", "metadata": {"utter_action": "utter_area_invalid"}})
    events = await ActionStoreArea(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_thanks_bye"]
    assert slots(events) == {"stage": None, "pending_view_id": None}
    with database.transaction() as s:
        assert find_resident(s, SENDER).area is None
    with database.transaction() as s:
        assert find_resident(s, SENDER).area is None


async def test_a_volunteered_area_is_kept_and_leads_back(
    database, settings, dispatcher, domain, consented
):
    tracker = make_tracker(intent="give_area", text="im in M14", slots={**GIVEN})
    await ActionStoreArea(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_area_noted", "utter_ask_view"]


@pytest.mark.parametrize(
    ("views", "response", "extra"),
    [
        ([], "utter_no_views_details", {"area": "not given", "rhythm": "monthly"}),
        (["housing"], "utter_views_summary_one", {"theme_label": "Housing"}),
        (
            ["housing", "roads_transport", "roads_transport"],
            "utter_views_summary",
            {"count": 3, "breakdown": "Roads & transport (2), Housing (1)"},
        ),
        (
            ["housing", "roads_transport", "parks_green_spaces", "cost_of_living", None],
            "utter_views_summary_more",
            {"count": 5, "more": 1},
        ),
    ],
)
async def test_what_have_i_told_you(
    database, settings, dispatcher, domain, consented, views, response, extra
):
    with database.transaction() as s:
        resident = find_resident(s, SENDER)
        for theme in views:
            store_view(s, resident, text="t", theme_key=theme, confidence=0.9, channel="rest")
    tracker = make_tracker(intent="ask_my_data", slots=GIVEN)
    await ActionSummariseViews(database, settings).run(dispatcher, tracker, domain)
    message, copy = dispatcher.messages
    assert message["response"] == response
    for key, value in extra.items():
        assert message[key] == value
    # How to get a full copy: the privacy page unless DATA_REQUEST_CONTACT names a route.
    assert copy["response"] == "utter_data_copy_privacy"
    assert copy["privacy_url"] == settings.privacy_url


async def test_what_do_you_know_names_the_councils_route_for_a_full_copy(
    database, dispatcher, domain, consented, tmp_path
):
    from bot.settings import Settings

    settings = Settings.from_env(
        {"ENGAGE_VAR_DIR": str(tmp_path), "DATA_REQUEST_CONTACT": "email dpo@leeds.example"}
    )
    with database.transaction() as s:
        resident = find_resident(s, SENDER)
        resident.area = "LS6"
        store_view(s, resident, text="t", theme_key="housing", confidence=0.9, channel="rest")
    tracker = make_tracker(intent="ask_my_data", slots=GIVEN)
    await ActionSummariseViews(database, settings).run(dispatcher, tracker, domain)
    summary, copy = dispatcher.messages
    assert (summary["area"], summary["rhythm"]) == ("LS6", "monthly")
    assert copy["response"] == "utter_data_copy"
    assert copy["data_request_contact"] == "email dpo@leeds.example"


@pytest.mark.parametrize(
    ("slot_values", "expected"),
    [
        ({}, ["utter_intro", "utter_ask_consent"]),
        # Already introduced: only the question again (never the introduction twice).
        ({"consent": None, "stage": "consent"}, ["utter_ask_consent"]),
        ({"consent": "refused"}, ["utter_consent_reminder"]),
        ({"consent": "given", "stage": "theme", "theme_choices": ["housing"]}, ["utter_ask_theme"]),
        ({"consent": "given", "stage": "more"}, ["utter_ask_more"]),
        ({"consent": "given", "stage": "area"}, ["utter_ask_area"]),
        ({"consent": "given", "stage": None}, ["utter_ask_view"]),
        ({"consent": "given", "opted_out": True}, []),
    ],
)
async def test_lead_back_re_asks_what_is_pending(
    database, settings, dispatcher, domain, slot_values, expected
):
    tracker = make_tracker(intent="nlu_fallback", slots=slot_values)
    await ActionLeadBack(database, settings).run(dispatcher, tracker, domain)
    assert responses(dispatcher) == expected


async def test_lead_back_never_repeats_itself(database, settings, dispatcher, domain):
    tracker = make_tracker(latest_action="action_lead_back")
    assert await ActionLeadBack(database, settings).run(dispatcher, tracker, domain) == []
    assert dispatcher.messages == []
