"""Insights at a million requests: snapshots of the page's figures, refreshed by beat

Revision ID: 0027_insights_snapshots
Revises: 0026_request_facts
Create Date: 2026-12-07 06:30:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0027_insights_snapshots"
down_revision = "0026_request_facts"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "insights_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("end_on", sa.Date(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("preset", sa.String(length=10), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_snapshots")),
    )
    op.create_index(
        "ix_insights_snapshots_key",
        "insights_snapshots",
        ["start_on", "end_on", "staff_id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_insights_snapshots_key", table_name="insights_snapshots")
    op.drop_table("insights_snapshots")
