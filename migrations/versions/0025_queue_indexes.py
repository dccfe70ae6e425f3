"""Dashboard at a million requests: partial indexes for the closed queue (newest first),
for the requests awaiting a first action (by assignment time) and for the staff's timeline
entries (the first-response SLA's "has the staff acted yet")

Revision ID: 0025_queue_indexes
Revises: 0024_topic_city_zh
Create Date: 2026-12-07 02:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025_queue_indexes'
down_revision = '0024_topic_city_zh'
branch_labels = None
depends_on = None

# As bureau.bookings.models.CLOSED_WHERE says it today (a migration keeps its own copy).
CLOSED = "status IN ('cancelled', 'completed', 'declined', 'expired', 'withdrawn')"
STAFF = "actor_kind = 'staff'"
ASSIGNED = "status = 'assigned'"


def upgrade():
    op.create_index(
        'ix_booking_requests_closed_newest', 'booking_requests', ['created_at', 'id'],
        postgresql_where=sa.text(CLOSED), sqlite_where=sa.text(CLOSED),
    )
    op.create_index(
        'ix_booking_requests_awaiting', 'booking_requests', ['assigned_at'],
        postgresql_where=sa.text(ASSIGNED), sqlite_where=sa.text(ASSIGNED),
    )
    op.create_index(
        'ix_booking_events_staff_acts', 'booking_events', ['booking_id'],
        postgresql_where=sa.text(STAFF), sqlite_where=sa.text(STAFF),
    )


def downgrade():
    op.drop_index('ix_booking_events_staff_acts', table_name='booking_events')
    op.drop_index('ix_booking_requests_awaiting', table_name='booking_requests')
    op.drop_index('ix_booking_requests_closed_newest', table_name='booking_requests')
