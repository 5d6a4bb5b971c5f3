"""usage: GPU-hours as integer micro-GPU-hours

A NUMERIC column is a floating-point REAL on SQLite, so its SUM there was a float sum. Usage is now
stored as an integer count of micro-GPU-hours (GPU-hours × 1,000,000, exact for the six decimals the
API accepts) and summed as integers on every engine. The covering index and the CHECK follow the
column.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 00:30:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COVERING = ["booking_id", "{}", "started_at", "ended_at"]


def _covering(column: str) -> list[str]:
    return [c.format(column) for c in COVERING]


def upgrade():
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.add_column(sa.Column("gpu_microhours", sa.BigInteger(), nullable=True))
    # six decimals at most were ever accepted, so the conversion is exact (round() only undoes a
    # REAL's binary representation on SQLite)
    op.execute("UPDATE usage_records SET gpu_microhours = CAST(round(gpu_hours * 1000000) AS BIGINT)")
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.drop_index("ix_usage_records_booking_totals")
        batch_op.drop_constraint(op.f("ck_usage_records_gpu_hours_not_negative"), type_="check")
        batch_op.drop_column("gpu_hours")
        batch_op.alter_column("gpu_microhours", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_check_constraint(op.f("ck_usage_records_gpu_microhours_not_negative"), "gpu_microhours >= 0")
        batch_op.create_index("ix_usage_records_booking_totals", _covering("gpu_microhours"), unique=False)


def downgrade():
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.add_column(sa.Column("gpu_hours", sa.Numeric(18, 6), nullable=True))
    op.execute("UPDATE usage_records SET gpu_hours = gpu_microhours / 1000000.0")
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.drop_index("ix_usage_records_booking_totals")
        batch_op.drop_constraint(op.f("ck_usage_records_gpu_microhours_not_negative"), type_="check")
        batch_op.drop_column("gpu_microhours")
        batch_op.alter_column("gpu_hours", existing_type=sa.Numeric(18, 6), nullable=False)
        batch_op.create_check_constraint(op.f("ck_usage_records_gpu_hours_not_negative"), "gpu_hours >= 0")
        batch_op.create_index("ix_usage_records_booking_totals", _covering("gpu_hours"), unique=False)
