"""a safeguarding alert an officer judged an ordinary view points to the view it became

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("safeguarding_alerts") as batch:
        batch.add_column(sa.Column("view_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_safeguarding_alerts_view_id_views"),
            "views",
            ["view_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_safeguarding_alerts_view_id"), ["view_id"])


def downgrade() -> None:
    with op.batch_alter_table("safeguarding_alerts") as batch:
        batch.drop_index(op.f("ix_safeguarding_alerts_view_id"))
        batch.drop_constraint(op.f("fk_safeguarding_alerts_view_id_views"), type_="foreignkey")
        batch.drop_column("view_id")
