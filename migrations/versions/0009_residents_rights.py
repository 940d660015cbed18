"""residents' rights: the do-not-contact list of erased addresses, erasure asked in the
conversation

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 17:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "do_not_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_contact")),
        sa.UniqueConstraint("channel", "address_hash", name="uq_do_not_contact"),
    )
    with op.batch_alter_table("residents") as batch:
        batch.add_column(sa.Column("erase_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("residents") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("erase_requested_at")
    op.drop_table("do_not_contact")
