"""The record of sent messages, delivery reports, numbered choices, identities."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import ChannelIdentity, OutboundMessage, Resident, utcnow
from bot.services.delivery import (
    Sent,
    chosen_payload,
    offer_choices,
    record_sent,
    record_status,
)
from bot.services.identities import (
    address_for,
    conversation_for,
    mark_unreachable,
    resident_at,
)


def test_an_address_maps_to_one_opaque_conversation(database):
    with database.transaction() as s:
        first = conversation_for(s, "sms", "+447700900123")
        assert conversation_for(s, "sms", "+447700900123") == first
        assert "447700900123" not in first and len(first) == 32
        assert address_for(s, first, "sms") == "+447700900123"
        assert address_for(s, first, "telegram") is None
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
        offer_choices(s, resident, "sms", ["/affirm", "/deny"])
        assert chosen_payload(s, resident, "sms", " 2 ") == "/deny"
        assert chosen_payload(s, resident, "sms", "3") is None
        assert chosen_payload(s, resident, "sms", "yes") is None
        offer_choices(s, resident, "sms", [])  # a message without options closes it
        assert chosen_payload(s, resident, "sms", "1") is None
