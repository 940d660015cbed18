"""End to end: a resident in danger is signposted, never "noted"; the message reaches the
safeguarding page and no view. A view about two things is reached by an update on either."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from bot.console import create_app
from bot.models import SafeguardingAlert, View
from bot.services.identities import resident_at
from bot.services.updates import update_message
from bot.services.users import create_user, set_safeguarding
from tests.e2e.test_channels import (
    new_chat,
    new_number,
    sms,
    telegram,
    telegram_update,
)
from tests.e2e.test_checkins import engage
from tests.e2e.test_updates import wait_for

pytestmark = pytest.mark.e2e

DISCLOSURE = "i've had enough of everything, i'm planning to end my life this weekend"


def test_self_harm_over_telegram_is_signposted_and_kept_for_officers_only(stack, fake):
    chat = new_chat()
    telegram(stack, telegram_update("telegram_start.json", chat))
    telegram(stack, telegram_update("telegram_callback_query.json", chat))  # yes
    before = len(fake.telegram_to(chat))
    telegram(stack, telegram_update("telegram_message.json", chat, text=DISCLOSURE))
    [reply] = [m["text"] for m in fake.telegram_to(chat)[before:]]
    assert reply.startswith("I'm so sorry you're going through this.")
    assert "116 123" in reply and "NHS 111, option 2" in reply and "999" in reply
    assert "noted" not in reply and "Anything else" not in reply

    # The conversation goes on where it was: the next message is an ordinary view.
    telegram(stack, telegram_update("telegram_message.json", chat, text="the buses stop at 6"))
    assert fake.telegram_to(chat)[-1]["text"].startswith("Thanks, noted under Roads & transport")

    with stack.database.transaction() as s:
        resident = resident_at(s, "telegram", str(chat))
        views = s.scalars(select(View.text).where(View.resident_id == resident.id)).all()
        assert views == ["the buses stop at 6"]
        [alert] = s.scalars(
            select(SafeguardingAlert).where(SafeguardingAlert.resident_id == resident.id)
        ).all()
        assert (alert.kind, alert.text, alert.channel) == ("self_harm", DISCLOSURE, "telegram")
        duty = create_user(
            s, email=f"duty{chat}@council.example", name="Duty", role="officer",
            password="correct horse battery", actor="test",
        )  # fmt: skip
        set_safeguarding(s, duty.id, True, actor="test")
        duty_id = duty.id

    console = create_app(stack.settings(), stack.database)
    client = console.test_client()
    with client.session_transaction() as session:  # signed in as the duty officer
        session["uid"], session["since"] = duty_id, time.time()
    page = client.get("/safeguarding").get_data(as_text=True)
    assert DISCLOSURE.replace("'", "&#39;") in page and "Risk to life" in page
    assert "end my life" not in client.get("/").get_data(as_text=True)  # not among views


def test_a_view_about_two_things_is_told_of_an_update_on_either(stack, fake):
    number = new_number()
    for text in ("hi", "yes"):
        sms(stack, number, text)
    sms(stack, number, "the buses are always late and the bins never get emptied")
    assert fake.sms_to(number)[-1] == (
        "Thanks, noted under Rubbish & recycling and Roads & transport. "
        "Anything else? (Or reply DONE)"
    )
    said, did = "buses are late", "The 7 now runs every 10 minutes."
    published = engage(
        stack, "updates", "publish", "--title", "Buses", "--you-said", said,
        "--we-did", did, "--theme", "roads_transport", "--yes",
    )  # fmt: skip
    assert published.returncode == 0, published.stdout + published.stderr
    engage(stack, "notifier", "--once", QUIET_HOURS="off", **stack.channel_env)
    text = update_message(said, did, org_name="Leeds Listens")
    wait_for(lambda: text in fake.sms_to(number))
    assert fake.sms_to(number).count(text) == 1
