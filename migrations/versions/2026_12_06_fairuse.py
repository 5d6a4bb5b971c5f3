"""fair use: per-team quotas, no-show suspension and self check-in of instruments

``instruments.max_future_bookings_per_team``, ``max_hours_per_team_per_week`` and ``no_show_limit``
(NULL: no limit; otherwise at least 1) and ``self_check_in`` (false for every existing instrument).

Revision ID: fairuse1
Revises: 0020
Create Date: 2026-12-06 01:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "fairuse1"
down_revision = "claims1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instruments") as batch_op:
        batch_op.add_column(sa.Column("max_future_bookings_per_team", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_hours_per_team_per_week", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("no_show_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("self_check_in", sa.Boolean(), server_default="0", nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_instruments_fair_use_limits"),
            "(max_future_bookings_per_team IS NULL OR max_future_bookings_per_team >= 1)"
            " AND (max_hours_per_team_per_week IS NULL OR max_hours_per_team_per_week >= 1)"
            " AND (no_show_limit IS NULL OR no_show_limit >= 1)",
        )


def downgrade() -> None:
    with op.batch_alter_table("instruments") as batch_op:
        batch_op.drop_constraint(op.f("ck_instruments_fair_use_limits"), type_="check")
        batch_op.drop_column("self_check_in")
        batch_op.drop_column("no_show_limit")
        batch_op.drop_column("max_hours_per_team_per_week")
        batch_op.drop_column("max_future_bookings_per_team")
