"""The record of sent messages, delivery reports, numbered choices, identities."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import ChannelIdentity, OutboundMessage, OutboxMessage, Resident, utcnow
from bot.services.delivery import (
    VALIDITY_EXPIRED,
    Sent,
    chosen_payload,
    offer_choices,
    record_sent,
    record_status,
)
from bot.services.identities import (
    conversation_for,
    mark_unreachable,
    resident_and_address,
    resident_at,
)


def test_an_address_maps_to_one_opaque_conversation(database):
    with database.transaction() as s:
        first = conversation_for(s, "sms", "+447700900123")
        assert conversation_for(s, "sms", "+447700900123") == first
        assert "447700900123" not in first and len(first) == 32
        assert resident_and_address(s, first, "sms")[1] == "+447700900123"
        assert resident_and_address(s, first, "telegram")[1] is None
        assert conversation_for(s, "telegram", "+447700900123") != first


def test_unreachable_until_they_write_again(database):
    with database.transaction() as s:
        conversation_for(s, "telegram", "42")
        mark_unreachable(s, "telegram", "42")
        assert s.scalars(select(ChannelIdentity.unreachable_at)).one() is not None
        conversation_for(s, "telegram", "42")
        assert s.scalars(select(ChannelIdentity.unreachable_at)).one() is None


def test_delivery_reports_update_the_message_and_21610_opts_out(database):
    with database.transaction() as s:
        conversation_for(s, "sms", "+447700900123")
        resident = resident_at(s, "sms", "+447700900123")
        record_sent(s, [Sent(resident.id, "sms", "reply", "SM9", "sent")], utcnow())
        assert record_status(s, "sms", "SM9", "delivered", None) is True
        assert s.scalars(select(OutboundMessage.status)).one() == "delivered"
        assert record_status(s, "sms", "SM-unknown", "delivered", None) is False
        assert s.scalars(select(Resident.opted_out_at)).one() is None
        assert record_status(s, "sms", "SM9", "undelivered", "21610", opted_out=True) is True
        assert s.scalars(select(Resident.opted_out_at)).one() is not None


def test_numbered_choices_map_back_while_the_question_is_open(database):
    with database.transaction() as s:
        conversation_for(s, "sms", "+447700900123")
        resident = resident_at(s, "sms", "+447700900123")
        offer_choices(s, resident.id, "sms", ["/affirm", "/deny"])
        assert chosen_payload(s, resident, "sms", " 2 ") == "/deny"
        assert chosen_payload(s, resident, "sms", "3") is None
        assert chosen_payload(s, resident, "sms", "yes") is None
        offer_choices(s, resident.id, "sms", [])  # a message without options closes it
        assert chosen_payload(s, resident, "sms", "1") is None


def test_a_report_that_twilio_dropped_an_update_past_its_validity_marks_it_expired(database):
    """Twilio's 30036: the SMS waited in its queue past its ValidityPeriod and was not sent."""
    from tests.residents import published

    published(database, ["+447700900123", "+447700900124"])
    with database.transaction() as s:
        expired, failed = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for row, sid in ((expired, "SM1"), (failed, "SM2")):
            row.status, row.provider_id = "sent", sid
            record_sent(s, [Sent(row.resident_id, "sms", "update", sid, "sent", None, row.id)],
                        utcnow())  # fmt: skip
    with database.transaction() as s:
        assert record_status(s, "sms", "SM1", "failed", VALIDITY_EXPIRED)
        assert record_status(s, "sms", "SM2", "undelivered", "30003")
    with database.transaction() as s:
        rows = s.execute(select(OutboxMessage.status, OutboxMessage.error_code)
                         .order_by(OutboxMessage.id)).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [("expired", "30036"), ("failed", "30003")]
