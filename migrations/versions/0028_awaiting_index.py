"""The requests awaiting a first action, told by their first_response_at: a partial index of
exactly those (by assignment time, with the assignee), read alone for the dashboard's
Overdue queue and its count; the staff's timeline entries no longer need their own

Revision ID: 0028_awaiting_index
Revises: 0027_insights_snapshots
Create Date: 2026-12-07 12:45:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0028_awaiting_index"
down_revision = "0027_insights_snapshots"
branch_labels = None
depends_on = None

# As bureau.bookings.models says them today (a migration keeps its own copy).
AWAITING = "status = 'assigned' AND first_response_at IS NULL"
ASSIGNED = "status = 'assigned'"
STAFF = "actor_kind = 'staff'"


def upgrade():
    op.drop_index("ix_booking_requests_awaiting", table_name="booking_requests")
    op.create_index(
        "ix_booking_requests_awaiting",
        "booking_requests",
        ["assigned_at", "assigned_staff_id"],
        postgresql_where=sa.text(AWAITING),
        sqlite_where=sa.text(AWAITING),
    )
    op.drop_index("ix_booking_events_staff_acts", table_name="booking_events")


def downgrade():
    op.create_index(
        "ix_booking_events_staff_acts",
        "booking_events",
        ["booking_id"],
        postgresql_where=sa.text(STAFF),
        sqlite_where=sa.text(STAFF),
    )
    op.drop_index("ix_booking_requests_awaiting", table_name="booking_requests")
    op.create_index(
        "ix_booking_requests_awaiting",
        "booking_requests",
        ["assigned_at"],
        postgresql_where=sa.text(ASSIGNED),
        sqlite_where=sa.text(ASSIGNED),
    )
