"""Many consented residents in one go, for the benchmarks (batched inserts, explicit ids)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from bot.db import Database
from bot.models import (
    ChannelIdentity,
    ConsentEvent,
    ConsentWording,
    Resident,
    View,
    ViewTheme,
)


def numbers(n: int) -> list[str]:
    """The SMS numbers of residents 1..n."""
    return [f"+4477{i:08d}" for i in range(n)]


def seed_residents(database: Database, count: int, theme: str) -> None:
    """`count` consented SMS residents (ids 1..count), each with one view on `theme`."""
    with database.transaction() as s:
        s.add(ConsentWording(version="bench", text="Can we keep your views and contact you?"))
        s.flush()
        # Explicit ids let the ORM insert in batches (executemany) instead of row by row;
        # one table at a time, parents first.
        conversations = [uuid.uuid4().hex for _ in range(count)]
        s.add_all(
            Resident(id=i, conversation_id=c, consent="given", contact_ok=True)
            for i, c in enumerate(conversations, start=1)
        )
        s.flush()
        s.add_all(
            ChannelIdentity(id=i, resident_id=i, channel="sms", address=number)
            for i, number in enumerate(numbers(count), start=1)
        )
        s.add_all(
            ConsentEvent(
                id=i,
                resident_id=i,
                kind="given",
                store_views=True,
                contact=True,
                wording_version="bench",
                channel="sms",
            )
            for i in range(1, count + 1)
        )
        s.add_all(
            View(
                id=i,
                resident_id=i,
                text="the buses stop at 6 so i cant get home from my shift",
                theme_key=theme,
                confidence=0.9,
                channel="sms",
                conversation_id=c,
            )
            for i, c in enumerate(conversations, start=1)
        )
        s.flush()
        s.add_all(
            ViewTheme(id=i, view_id=i, theme_key=theme, confidence=0.9, rank=0)
            for i in range(1, count + 1)
        )
        s.flush()
        if s.get_bind().dialect.name == "postgresql":  # ids were given: move the sequences on
            for table in (
                "residents",
                "channel_identities",
                "consent_events",
                "views",
                "view_themes",
            ):
                s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
