"""services: lab testing services (送样检测), and programmes that may cover them

A service is priced per sample, with a turnaround in days, a most samples per order and the form each
order fills in about its samples (``sample_fields``, JSON). ``programs.covers_service`` is the third
resource kind a programme may cover.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 23:15:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lab_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price_per_sample_fen", sa.BigInteger(), nullable=False),
        sa.Column("turnaround_days", sa.Integer(), nullable=False),
        sa.Column("max_samples", sa.Integer(), nullable=False),
        sa.Column("sample_fields", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("price_per_sample_fen >= 0", name=op.f("ck_services_price_not_negative")),
        sa.CheckConstraint("turnaround_days >= 1", name=op.f("ck_services_turnaround_days")),
        sa.CheckConstraint("max_samples >= 1", name=op.f("ck_services_max_samples")),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"], name=op.f("fk_services_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    with op.batch_alter_table("services") as batch_op:
        batch_op.create_index(batch_op.f("ix_services_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_services_category"), ["category"], unique=False)
    with op.batch_alter_table("programs") as batch_op:
        batch_op.add_column(sa.Column("covers_service", sa.Boolean(), server_default="0", nullable=False))
        batch_op.drop_constraint(batch_op.f("ck_programs_covers_something"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_programs_covers_something"), "covers_compute OR covers_instrument OR covers_service"
        )


def downgrade() -> None:
    with op.batch_alter_table("programs") as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_programs_covers_something"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_programs_covers_something"), "covers_compute OR covers_instrument"
        )
        batch_op.drop_column("covers_service")
    with op.batch_alter_table("services") as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_category"))
        batch_op.drop_index(batch_op.f("ix_services_lab_id"))
    op.drop_table("services")
