"""Conversations survive a restart: on PostgreSQL, with the tracker store in the same database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from bot.models import View
from bot.services.identities import resident_at
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_a_conversation_continues_after_a_restart(postgres_url, tmp_path):
    stack = Stack(tmp_path, postgres_url, postgres_url)
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    stack.start()
    try:
        stack.say(sender, "hi")
        stack.say(sender, "yes")
        reply = stack.texts(sender, "my flat has had damp and mould for a year")
        assert reply[0].startswith("Thanks, noted under Housing.")
    finally:
        assert stack.stop() == 0

    stack.start()
    try:
        # The bot remembers it asked "anything else?" and that consent was given.
        assert "postcode" in stack.texts(sender, "no thats all")[0]
        assert stack.texts(sender, "M14")[0].startswith("Thanks, noted M14.")
    finally:
        assert stack.stop() == 0
    with stack.database.transaction() as s:
        resident = resident_at(s, "rest", sender)
        [view] = s.scalars(select(View).where(View.resident_id == resident.id)).all()
        assert (view.theme_key, view.area) == ("housing", "M14")
    stack.database.dispose()
