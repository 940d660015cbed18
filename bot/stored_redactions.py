"""Views' stored redacted text, made again under today's rules (migrations 0012 and 0014)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.redaction import REDACTION_VERSION, redact

BATCH = 1000  # views read at a time
UPDATE_BATCH = 100  # views written by one statement

# As the table is, not as bot.models may describe it in a later release.
VIEWS = sa.table(
    "views",
    sa.column("id", sa.Integer()),
    sa.column("text", sa.Text()),
    sa.column("text_redacted", sa.Text()),
    sa.column("redaction_version", sa.Integer()),
)


def redact_stale_views(connection: Connection) -> int:
    """Redact again each view not redacted under today's REDACTION_VERSION; returns how many.

    BATCH views at a time, oldest id first, so memory does not grow with the table.
    """
    stale = sa.or_(
        VIEWS.c.redaction_version.is_(None), VIEWS.c.redaction_version != REDACTION_VERSION
    )
    after, done = 0, 0
    while True:
        rows = connection.execute(
            sa.select(VIEWS.c.id, VIEWS.c.text)
            .where(VIEWS.c.id > after, stale)
            .order_by(VIEWS.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return done
        # One statement per UPDATE_BATCH views, not one per view: 200,000 views took 10 s
        # instead of 23 s on PostgreSQL (5 s on SQLite). No more, as the CASE is a list.
        for start in range(0, len(rows), UPDATE_BATCH):
            redacted = {id_: redact(text) for id_, text in rows[start : start + UPDATE_BATCH]}
            connection.execute(
                VIEWS.update()
                .where(VIEWS.c.id.in_(list(redacted)))
                .values(
                    text_redacted=sa.case(redacted, value=VIEWS.c.id),
                    redaction_version=REDACTION_VERSION,
                )
            )
        done += len(rows)
        after = rows[-1][0]
