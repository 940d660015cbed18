"""views keep their redacted text, made when the text is written, and the rules' version

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 23:20:00
"""

import sqlalchemy as sa
from alembic import op

# Not copied here, unlike 0011's wording: the backfill redacts with the rules of the day the
# migration runs (`bot.redaction` as installed then) and marks each row with that day's
# REDACTION_VERSION. Whatever the rules are by then, text and version agree, and an export
# redacts again any row whose version is not its own.
from bot.stored_redactions import redact_stale_views

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("views") as batch:
        batch.add_column(sa.Column("text_redacted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("redaction_version", sa.Integer(), nullable=True))
    redact_stale_views(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("views") as batch:
        batch.drop_column("redaction_version")
        batch.drop_column("text_redacted")
