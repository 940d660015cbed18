"""The outbox's claims: every write after a send is fenced by its claim's token, and a
message queued longer than its validity period is expired at claim time, never sent."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.models import OutboundMessage, OutboxMessage, Resident
from bot.services.delivery import Sent
from bot.services.outbox import (
    BACKOFF_S,
    DEFAULT_VALIDITY,
    claim_due,
    mark_all_sent,
    mark_expired,
    mark_retry,
    mark_undeliverable,
)
from tests.bot.test_notifier import MORNING
from tests.residents import numbers, published

LEASE = timedelta(seconds=60)
NUMBER = numbers(1)[0]


def queued_at(database, moment) -> None:
    """Every outbox row was queued at `moment`."""
    with database.transaction() as s:
        s.execute(update(OutboxMessage).values(created_at=moment))


def row(database) -> OutboxMessage:
    with database.transaction() as s:
        return s.scalars(select(OutboxMessage)).one()


def sent(item, sid: str) -> Sent:
    return Sent(item.resident_id, item.channel, "update", sid, "sent", None, item.outbox_id,
                item.claim_token)  # fmt: skip


def reclaimed(database):
    """Worker A claims the row; its lease runs out; worker B claims it: (A's, B's) items."""
    published(database, [NUMBER])
    queued_at(database, MORNING)
    with database.transaction() as s:
        [a] = claim_due(s, "sms", MORNING, 10, LEASE).items
    later = MORNING + LEASE + timedelta(seconds=1)
    with database.transaction() as s:
        [b] = claim_due(s, "sms", later, 10, LEASE).items
    assert a.outbox_id == b.outbox_id and a.claim_token != b.claim_token and b.in_doubt
    return a, b


def test_a_stale_workers_late_send_changes_nothing_and_the_new_owners_lands(database, caplog):
    a, b = reclaimed(database)
    late = MORNING + timedelta(minutes=2)
    with caplog.at_level(logging.INFO), database.transaction() as s:
        mark_all_sent(s, [sent(a, "SM-from-A")], late)
    taken = row(database)
    assert (taken.status, taken.claim_token, taken.provider_id) == ("sending", b.claim_token, None)
    with database.transaction() as s:
        assert s.scalars(select(OutboundMessage)).all() == []  # no record of A's send
    dropped = [r for r in caplog.records if r.name == "bot.services.outbox"]
    assert [r.levelno for r in dropped] == [logging.INFO]
    assert f"Outbox row {a.outbox_id}" in dropped[0].getMessage()
    assert NUMBER not in caplog.text and a.text not in caplog.text
    with database.transaction() as s:
        mark_all_sent(s, [sent(b, "SM-from-B")], late)
    landed = row(database)
    assert (landed.status, landed.provider_id, landed.sent_at) == ("sent", "SM-from-B", late)
    with database.transaction() as s:
        assert s.scalars(select(OutboundMessage.provider_id)).all() == ["SM-from-B"]


@pytest.mark.parametrize("outcome", ["retry", "refused", "expired"])
def test_a_stale_workers_late_retry_refusal_or_expiry_changes_nothing(database, outcome):
    a, b = reclaimed(database)
    late = MORNING + timedelta(minutes=2)
    with database.transaction() as s:
        if outcome == "retry":
            mark_retry(s, a.outbox_id, "20500", late, None, token=a.claim_token)
        elif outcome == "refused":
            mark_undeliverable(s, a.outbox_id, "21610", token=a.claim_token, opted_out=True,
                               unreachable=False)  # fmt: skip
        else:
            mark_expired(s, a.outbox_id, token=a.claim_token)
    taken = row(database)
    assert (taken.status, taken.claim_token, taken.error_code) == (
        "sending", b.claim_token, "in_doubt",
    )  # fmt: skip
    with database.transaction() as s:
        assert s.get(Resident, a.resident_id).opted_out_at is None
    with database.transaction() as s:  # B's write lands
        mark_retry(s, b.outbox_id, "20500", late, None, token=b.claim_token)
    retried = row(database)
    assert (retried.status, retried.error_code) == ("queued", "20500")
    assert retried.next_attempt_at == late + timedelta(seconds=BACKOFF_S[1])  # 2nd attempt


def test_a_refusal_from_the_owner_lands_and_opts_the_resident_out(database):
    _, b = reclaimed(database)
    with database.transaction() as s:
        mark_undeliverable(s, b.outbox_id, "21610", token=b.claim_token, opted_out=True,
                           unreachable=False)  # fmt: skip
    assert (row(database).status, row(database).error_code) == ("opted_out", "21610")
    with database.transaction() as s:
        assert s.get(Resident, b.resident_id).opted_out_at is not None


def test_a_row_queued_longer_than_its_validity_is_expired_at_claim_not_returned(database):
    published(database, numbers(2))
    with database.transaction() as s:
        old, new = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        old.created_at = MORNING - DEFAULT_VALIDITY
        new.created_at = MORNING - DEFAULT_VALIDITY + timedelta(seconds=1)
    with database.transaction() as s:
        claim = claim_due(s, "sms", MORNING, 10, LEASE)
    assert (claim.taken, claim.expired, [i.outbox_id for i in claim.items]) == (2, 1, [new.id])
    [item] = claim.items
    assert item.valid_until == MORNING + timedelta(seconds=1)
    with database.transaction() as s:
        assert s.get(OutboxMessage, old.id).status == "expired"
        assert s.get(OutboxMessage, new.id).status == "sending"


def test_validity_is_the_settings(database):
    """A shorter validity (MESSAGE_VALIDITY_HOURS=1) expires a row queued 61 minutes ago."""
    published(database, [NUMBER])
    queued_at(database, MORNING - timedelta(minutes=61))
    with database.transaction() as s:
        claim = claim_due(s, "sms", MORNING, 10, LEASE, validity=timedelta(hours=1))
    assert (claim.taken, claim.expired, claim.items) == (1, 1, [])
    assert row(database).status == "expired"
