"""training: training requests and qualification expiry

``instruments.qualification_valid_days`` (NULL: a qualification lasts for good),
``qualifications.expires_at`` (NULL for every existing qualification; ``granted_at`` already holds
their grant time), and ``training_requests`` with at most one pending request per user and
instrument.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 23:15:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

OPEN = "status = 'pending'"


def upgrade() -> None:
    with op.batch_alter_table("instruments") as batch_op:
        batch_op.add_column(sa.Column("qualification_valid_days", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_instruments_qualification_valid_days"),
            "qualification_valid_days IS NULL OR qualification_valid_days >= 1",
        )
    with op.batch_alter_table("qualifications") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "training_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decline_reason", sa.String(length=500), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'granted', 'declined')", name=op.f("ck_training_requests_status")
        ),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)", name=op.f("ck_training_requests_decided_when_closed")
        ),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
            name=op.f("fk_training_requests_instrument_id_instruments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_training_requests_user_id_users")),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_training_requests_decided_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_requests")),
    )
    with op.batch_alter_table("training_requests") as batch_op:
        batch_op.create_index(batch_op.f("ix_training_requests_instrument_id"), ["instrument_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_requests_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_training_requests_open",
            ["instrument_id", "user_id"],
            unique=True,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("training_requests") as batch_op:
        batch_op.drop_index("uq_training_requests_open")
        batch_op.drop_index(batch_op.f("ix_training_requests_user_id"))
        batch_op.drop_index(batch_op.f("ix_training_requests_instrument_id"))
    op.drop_table("training_requests")
    with op.batch_alter_table("qualifications") as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("instruments") as batch_op:
        batch_op.drop_constraint(op.f("ck_instruments_qualification_valid_days"), type_="check")
        batch_op.drop_column("qualification_valid_days")
