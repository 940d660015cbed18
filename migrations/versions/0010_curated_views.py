"""curated views: who set a view's theme and when, hidden views with a reason, redacted views

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("views") as batch:
        batch.add_column(sa.Column("theme_set_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("hidden_reason", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))
    # A theme set before now was set when the view was stored (a resident's correction came
    # later, but when is not known).
    op.execute("UPDATE views SET theme_set_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("views") as batch:
        batch.drop_column("redacted_at")
        batch.drop_column("hidden_reason")
        batch.drop_column("hidden_at")
        batch.drop_column("theme_set_at")
