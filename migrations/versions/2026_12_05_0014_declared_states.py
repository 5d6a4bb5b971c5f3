"""bookings.payment_status gets a CHECK constraint, from the declared ``PaymentStatus``

Every other status column already has one (bookings.status, vouchers, voucher_applications,
exports, finance_exceptions). PostgreSQL alters the table in place and checks the existing rows;
SQLite rebuilds it (batch mode), with foreign keys off for the migration run (see migrations/env.py).
The values are spelt out here, not imported from the models: a migration keeps describing the schema
of its day when the models move on.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 20:30:00.000000

"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

PAYMENT_STATUSES = (
    "none",
    "invoice",
    "authorized",
    "capture_pending",
    "cancel_pending",
    "captured",
    "canceled",
    "capture_failed",
    "cancel_failed",
    "failed",
    "refunded",
    "partially_refunded",
)


def upgrade():
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_bookings_payment_status"),
            "payment_status IN (" + ", ".join(f"'{status}'" for status in PAYMENT_STATUSES) + ")",
        )


def downgrade():
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_constraint(op.f("ck_bookings_payment_status"), type_="check")
