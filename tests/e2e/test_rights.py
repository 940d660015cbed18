"""End to end over SMS: a resident asks to be forgotten and is, everywhere; deletes only
what they just said; asks what we know about them."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, select, text

from bot.erasure import do_not_contact_key
from bot.models import AuditEvent, Base, DoNotContact, Resident, View
from bot.services.identities import resident_at
from bot.services.rights import address_hash
from tests.e2e.test_channels import new_number, sms

pytestmark = pytest.mark.e2e

INTRO = "Hi, this is Leeds Listens."
ASK_ERASE = (
    "Delete everything we hold about you: what you've told us, your number and this chat? "
    "We won't message you again.\n1 Delete it all  2 Keep it"
)
ERASED = (
    "Done: everything we held about you has been deleted, and we won't message you again. "
    "Message us any time to start afresh."
)
SECRET_VIEW = "the streetlights on Quillbrook Terrace have been broken since the floods"


def consented(stack, fake, number: str) -> None:
    for said in ("hi", "yes"):
        sms(stack, number, said)
    assert fake.sms_to(number)[-1].startswith("Thanks! What's one thing")


def resident_of(stack, number: str) -> Resident | None:
    with stack.database.transaction() as s:
        resident = resident_at(s, "sms", number)
        if resident is not None:
            s.expunge(resident)
        return resident


def everything(stack) -> str:
    """Every row of every table of ours and of Rasa's events, as one string to search."""
    found = []
    with stack.database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found += [repr(tuple(row)) for row in connection.execute(table.select())]
    # The stack keeps Rasa's tracker store in its own database (it may be the same one).
    tracker = create_engine(stack.tracker_url, future=True)
    try:
        with tracker.connect() as connection:
            found += [repr(tuple(r)) for r in connection.execute(text("SELECT * FROM events"))]
    finally:
        tracker.dispose()
    return "\n".join(found)


def test_forget_me_over_sms_erases_everything_and_the_next_message_starts_afresh(stack, fake):
    number = new_number()
    consented(stack, fake, number)
    sms(stack, number, SECRET_VIEW)
    assert fake.sms_to(number)[-1].startswith("Thanks, noted under")
    before = resident_of(stack, number)
    assert "Quillbrook Terrace" in everything(stack)  # the search would find it

    sms(stack, number, "forget me")
    assert fake.sms_to(number)[-1] == ASK_ERASE
    sms(stack, number, "1")  # the numbered option for "Delete it all"
    assert fake.sms_to(number)[-1] == ERASED
    sent = len(fake.sms_to(number))
    time.sleep(1.5)  # nothing more: no "anything else?", no retry, no check-in
    assert len(fake.sms_to(number)) == sent

    found = everything(stack)
    for trace in (number, number[1:], before.conversation_id, "Quillbrook", "streetlights"):
        assert trace not in found, trace
    log = stack.log.read_text(errors="replace")  # masked numbers only, never what was said
    assert number[1:] not in log and "Quillbrook" not in log
    key = do_not_contact_key(stack.settings())
    with stack.database.transaction() as s:
        assert resident_at(s, "sms", number) is None
        assert s.get(Resident, before.id).erased_at is not None  # kept empty: id never reused
        listed = s.scalars(
            select(DoNotContact).where(
                DoNotContact.channel == "sms",
                DoNotContact.address_hash == address_hash("sms", number, key),
            )
        ).all()
        assert len(listed) == 1
        erasures = s.scalars(
            select(AuditEvent.actor).where(
                AuditEvent.action == "resident.erase",
                AuditEvent.target == f"resident:{before.id}",
            )
        ).all()
        assert erasures[-1:] == ["resident"]

    # The same number again: a stranger to us, asked for consent afresh.
    sms(stack, number, "hello")
    intro, consent = fake.sms_to(number)[sent:]
    assert intro.startswith(INTRO)
    assert consent.endswith("Reply STOP at any time to stop.\n1 Yes  2 No")
    after = resident_of(stack, number)
    # A new conversation (its resident row may reuse the erased one's id on SQLite).
    assert after.conversation_id != before.conversation_id and after.consent is None
    sms(stack, number, "yes")  # consenting again takes the number off the list
    with stack.database.transaction() as s:
        assert (
            s.scalars(
                select(DoNotContact).where(DoNotContact.address_hash == listed[0].address_hash)
            ).all()
            == []
        )


def test_delete_what_i_just_said_deletes_only_the_latest_view(stack, fake):
    number = new_number()
    consented(stack, fake, number)
    sms(stack, number, "the buses stop at 6 so i cant get home from my shift")
    sms(stack, number, "yes")  # anything else? yes
    sms(stack, number, "my flat has had damp and mould for a year")
    assert fake.sms_to(number)[-1].startswith("Thanks, noted under Housing")

    sms(stack, number, "delete what i just said")
    asked = fake.sms_to(number)[-1]
    assert asked.startswith(
        'Delete the last thing you told us: "my flat has had damp and mould for a year"?'
    )
    assert asked.endswith("\n1 Delete it  2 Keep it")
    sms(stack, number, "yes")
    assert fake.sms_to(number)[-1] == "Done, deleted."
    with stack.database.transaction() as s:
        resident = resident_at(s, "sms", number)
        views = s.scalars(select(View.text).where(View.resident_id == resident.id)).all()
    assert views == ["the buses stop at 6 so i cant get home from my shift"]


def test_what_do_you_know_about_me(stack, fake):
    number = new_number()
    consented(stack, fake, number)
    for said in ("the buses stop at 6 so i cant get home from my shift", "done", "LS7"):
        sms(stack, number, said)
    sms(stack, number, "what do you know about me")
    summary, copy = fake.sms_to(number)[-2:]
    assert summary.startswith("You've told us 1 thing, about Roads & transport.")
    assert "Area: LS7." in summary and "Check-ins: monthly." in summary
    assert copy == (
        "For a full copy of everything we hold, see https://leeds.example/p. "
        "Reply FORGET ME to have it all deleted."
    )
