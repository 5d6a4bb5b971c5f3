"""usage covering index

Reconciliation sums a booking's GPU-hours and finds its first and last usage; with every column it
reads in the index, that is an index-only scan instead of a table lookup per record.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 20:45:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_records_booking_totals", ["booking_id", "gpu_hours", "started_at", "ended_at"], unique=False
        )
        batch_op.drop_index("ix_usage_records_booking_id")


def downgrade():
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index("ix_usage_records_booking_id", ["booking_id"], unique=False)
        batch_op.drop_index("ix_usage_records_booking_totals")
