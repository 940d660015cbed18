"""the standing check-in question is marked by a column, no longer known by its wording

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 22:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The standing question's wording until now (bot/services/checkins.py DEFAULT_WORDING), as it
# was matched: copied here, so that a later change of wording does not change this migration.
STANDING_WORDING = "What's one thing about your area you'd change?"


def upgrade() -> None:
    with op.batch_alter_table("checkin_questions") as batch:
        batch.add_column(
            sa.Column("standing", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # The rows recognised as the standing question until now: an open question in its words.
    questions = sa.table(
        "checkin_questions",
        sa.column("wording", sa.Text()),
        sa.column("kind", sa.String(length=8)),
        sa.column("standing", sa.Boolean()),
    )
    op.execute(
        questions.update()
        .where(questions.c.wording == STANDING_WORDING, questions.c.kind == "open")
        .values(standing=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("checkin_questions") as batch:
        batch.drop_column("standing")
