"""payments: card holds of bookings and processed webhook events

The team's share is held at booking (manual capture) and captured at settlement by a job.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "payment_events",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_payment_events")),
    )
    op.create_table(
        "booking_payments",
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("payment_method", sa.String(length=200), nullable=False),
        sa.Column("hold_key", sa.String(length=200), nullable=False),
        sa.Column("hold_intent_id", sa.String(length=100), nullable=True),
        sa.Column("authorized_fen", sa.BigInteger(), nullable=False),
        sa.Column("extra_intent_id", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=True),
        sa.Column("due_fen", sa.BigInteger(), nullable=True),
        sa.Column("captured_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IS NULL OR action IN ('capture', 'cancel')", name=op.f("ck_booking_payments_action")
        ),
        sa.CheckConstraint(
            "authorized_fen >= 0 AND captured_fen >= 0 AND refunded_fen >= 0 AND refunded_fen <= captured_fen",
            name=op.f("ck_booking_payments_money"),
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_booking_payments_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_booking_payments")),
        sa.UniqueConstraint("extra_intent_id", name=op.f("uq_booking_payments_extra_intent_id")),
        sa.UniqueConstraint("hold_intent_id", name=op.f("uq_booking_payments_hold_intent_id")),
        sa.UniqueConstraint("hold_key", name=op.f("uq_booking_payments_hold_key")),
    )
    with op.batch_alter_table("booking_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_booking_payments_action"), ["action"], unique=False)


def downgrade():
    with op.batch_alter_table("booking_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_booking_payments_action"))
    op.drop_table("booking_payments")
    op.drop_table("payment_events")
