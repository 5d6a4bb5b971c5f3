"""closures: lab closures (blackouts of every instrument of a lab) and the waitlist

``lab_closures`` close a whole lab for a while; each instrument of the lab gets a blackout with
``closure_id`` set (removed with the closure). ``waitlist_entries`` are teams waiting for a taken
range of an instrument, mailed once when the whole range becomes bookable again.

Revision ID: closures1
Revises: 0020
Create Date: 2026-12-06 01:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "closures1"
down_revision = "orders1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lab_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_lab_closures_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["lab_id"], ["labs.id"], name=op.f("fk_lab_closures_lab_id_labs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_lab_closures_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_closures")),
    )
    with op.batch_alter_table("lab_closures") as batch_op:
        batch_op.create_index("ix_lab_closures_lab_span", ["lab_id", "starts_at", "ends_at"], unique=False)
    with op.batch_alter_table("blackouts") as batch_op:
        batch_op.add_column(sa.Column("closure_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_blackouts_closure_id_lab_closures"),
            "lab_closures",
            ["closure_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_blackouts_closure_id"), ["closure_id"], unique=False)
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="waiting", nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_waitlist_entries_ends_after_start")),
        sa.CheckConstraint("status IN ('waiting', 'notified')", name=op.f("ck_waitlist_entries_status")),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["instruments.id"],
            name=op.f("fk_waitlist_entries_instrument_id_instruments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_waitlist_entries_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_waitlist_entries_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
    )
    with op.batch_alter_table("waitlist_entries") as batch_op:
        batch_op.create_index(
            "ix_waitlist_entries_instrument_status", ["instrument_id", "status", "starts_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_waitlist_entries_team_id"), ["team_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("waitlist_entries") as batch_op:
        batch_op.drop_index(batch_op.f("ix_waitlist_entries_team_id"))
        batch_op.drop_index("ix_waitlist_entries_instrument_status")
    op.drop_table("waitlist_entries")
    with op.batch_alter_table("blackouts") as batch_op:
        batch_op.drop_index(batch_op.f("ix_blackouts_closure_id"))
        batch_op.drop_constraint(batch_op.f("fk_blackouts_closure_id_lab_closures"), type_="foreignkey")
        batch_op.drop_column("closure_id")
    with op.batch_alter_table("lab_closures") as batch_op:
        batch_op.drop_index("ix_lab_closures_lab_span")
    op.drop_table("lab_closures")
