"""End to end: an update published from the terminal reaches the resident by SMS through
the notifier, and their reply is stored against it by the real Rasa and action servers."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from bot.models import OutboxMessage, UpdateReaction, View
from bot.services.identities import resident_at
from bot.services.updates import update_message
from tests.e2e.test_channels import new_number, sms
from tests.e2e.test_checkins import engage

pytestmark = pytest.mark.e2e

YOU_SAID, WE_DID = "the buses stop too early", "From 3 March the 42 runs until 11pm."


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


def test_an_update_reaches_the_resident_and_their_reply_is_stored(stack, fake):
    number = new_number()
    for text in ("hi", "yes", "the last bus leaves at 6 so i cant get home from work", "done"):
        sms(stack, number, text)
    sms(stack, number, "LS7")
    published = engage(
        stack, "updates", "publish", "--title", "Later buses", "--you-said", YOU_SAID,
        "--we-did", WE_DID, "--theme", "roads_transport", "--area", "LS7", "--yes",
    )  # fmt: skip
    assert published.returncode == 0, published.stdout + published.stderr
    # The stack's own notifier may be faster than this one: either sends it, once.
    engage(stack, "notifier", "--once", QUIET_HOURS="off", **stack.channel_env)
    text = update_message(YOU_SAID, WE_DID)
    wait_for(lambda: text in fake.sms_to(number))
    assert fake.sms_to(number).count(text) == 1

    before = len(fake.sms_to(number))
    sms(stack, number, "not really, the one outside the school still isnt done")
    assert fake.sms_to(number)[before:] == [
        "Sorry it didn't help. What would have? Reply in a few words, or DONE."
    ]
    sms(stack, number, "it's on Victoria Rd")  # more of the same reaction, not a new view
    sms(stack, number, "yes")  # the conversation moved on: not a reaction any more
    with stack.database.transaction() as s:
        resident = resident_at(s, "sms", number)
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.resident_id == resident.id)).one()
        assert row.status == "sent" and row.provider_id
        reactions = s.scalars(
            select(UpdateReaction).where(UpdateReaction.resident_id == resident.id)
        ).all()
        assert [r.kind for r in reactions] == ["not_helped"]
        kept = s.get(View, reactions[0].view_id)
        assert kept.text == (
            "not really, the one outside the school still isnt done\nit's on Victoria Rd"
        )
        assert not s.scalars(select(View).where(View.text == "it's on Victoria Rd")).all()
