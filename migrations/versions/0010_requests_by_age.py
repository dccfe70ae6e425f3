"""booking_requests indexes for the dashboard: (created_at, id) for newest-first lists, and one
covering what the queue counts read

Revision ID: 0010_requests_by_age
Revises: 0009_ops
Create Date: 2026-11-30 02:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010_requests_by_age'
down_revision = '0009_ops'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('booking_requests', schema=None) as batch_op:
        batch_op.create_index('ix_booking_requests_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_booking_requests_queue_counts', ['status', 'assigned_staff_id', 'created_at', 'starts_at'], unique=False)


def downgrade():
    with op.batch_alter_table('booking_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_booking_requests_queue_counts')
        batch_op.drop_index('ix_booking_requests_created_at_id')
