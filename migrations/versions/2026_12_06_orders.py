"""service orders: a team's orders of lab testing services (送样检测), result files, ratings

Each order is backed by one booking of the new kind ``service`` (no instrument, no offer), which
carries the money exactly as time bookings do (commitments, settlement, ledger, card hold).
``bookings.kind`` therefore admits ``service``. The values are spelt out here, not imported from the
models: a migration keeps describing the schema of its day.

Revision ID: orders1
Revises: 0020
Create Date: 2026-12-06 01:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "orders1"
down_revision = "series1"
branch_labels = None
depends_on = None

ORDER_STATUSES = ("submitted", "accepted", "rejected", "cancelled", "in_progress", "completed", "settled")


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_constraint(op.f("ck_bookings_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_bookings_kind"), "kind IN ('instrument', 'compute', 'service')"
        )
    op.create_table(
        "service_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("price_per_sample_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("samples_processed", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{status}'" for status in ORDER_STATUSES) + ")",
            name=op.f("ck_service_orders_status"),
        ),
        sa.CheckConstraint("samples >= 1", name=op.f("ck_service_orders_samples")),
        sa.CheckConstraint("price_per_sample_fen >= 0", name=op.f("ck_service_orders_price_not_negative")),
        sa.CheckConstraint(
            "samples_processed IS NULL OR (samples_processed >= 1 AND samples_processed <= samples)",
            name=op.f("ck_service_orders_samples_processed"),
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_service_orders_team_id_teams")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_service_orders_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_service_orders_booking_id_bookings")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_service_orders_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_service_orders_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"], ["users.id"], name=op.f("fk_service_orders_cancelled_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_orders")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_service_orders_booking_id")),
    )
    with op.batch_alter_table("service_orders") as batch_op:
        batch_op.create_index(batch_op.f("ix_service_orders_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_orders_service_id"), ["service_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_service_orders_status"), ["status"], unique=False)
    op.create_table(
        "service_order_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_service_order_results_size_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["service_orders.id"], name=op.f("fk_service_order_results_order_id_service_orders")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_service_order_results_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_order_results")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_service_order_results_storage_key")),
    )
    with op.batch_alter_table("service_order_results") as batch_op:
        batch_op.create_index(batch_op.f("ix_service_order_results_order_id"), ["order_id"], unique=False)
    op.create_table(
        "service_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("score >= 1 AND score <= 5", name=op.f("ck_service_ratings_score")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["service_orders.id"], name=op.f("fk_service_ratings_order_id_service_orders")
        ),
        sa.ForeignKeyConstraint(
            ["rated_by_id"], ["users.id"], name=op.f("fk_service_ratings_rated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_ratings")),
        sa.UniqueConstraint("order_id", name=op.f("uq_service_ratings_order_id")),
    )


def downgrade() -> None:
    op.drop_table("service_ratings")
    with op.batch_alter_table("service_order_results") as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_order_results_order_id"))
    op.drop_table("service_order_results")
    with op.batch_alter_table("service_orders") as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_orders_status"))
        batch_op.drop_index(batch_op.f("ix_service_orders_service_id"))
        batch_op.drop_index(batch_op.f("ix_service_orders_team_id"))
    op.drop_table("service_orders")
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_constraint(op.f("ck_bookings_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_bookings_kind"), "kind IN ('instrument', 'compute')")
