"""series: booking series (the same local time every day or week) and bookings' ``series_id``

A series records how it was asked for (``every``, ``count``, ``on_conflict``), the occurrences it
skipped, and the request's Idempotency-Key; each occurrence is an ordinary booking.

Revision ID: series1
Revises: 0020
Create Date: 2026-12-06 01:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "series1"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("every", sa.String(length=4), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("on_conflict", sa.String(length=4), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.CheckConstraint("every IN ('day', 'week')", name=op.f("ck_booking_series_every")),
        sa.CheckConstraint("count BETWEEN 2 AND 52", name=op.f("ck_booking_series_count")),
        sa.CheckConstraint("on_conflict IN ('skip', 'fail')", name=op.f("ck_booking_series_on_conflict")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_booking_series_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"], ["instruments.id"], name=op.f("fk_booking_series_instrument_id_instruments")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_booking_series_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_series")),
        sa.UniqueConstraint(
            "created_by_id", "idempotency_key", name=op.f("uq_booking_series_created_by_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("booking_series") as batch_op:
        batch_op.create_index(batch_op.f("ix_booking_series_team_id"), ["team_id"], unique=False)
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.add_column(sa.Column("series_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_bookings_series_id"), ["series_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_bookings_series_id_booking_series"), "booking_series", ["series_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_bookings_series_id_booking_series"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_bookings_series_id"))
        batch_op.drop_column("series_id")
    with op.batch_alter_table("booking_series") as batch_op:
        batch_op.drop_index(batch_op.f("ix_booking_series_team_id"))
    op.drop_table("booking_series")
