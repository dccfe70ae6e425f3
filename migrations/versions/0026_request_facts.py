"""booking_requests keep the facts of their timeline the insights read (funnel_stage,
first_response_at, first_confirmed_at, sla_breached), filled from the timeline; on
PostgreSQL the (created_at, id) index carries them, so a cohort's figures are an index-only
scan instead of a join with its timeline

Revision ID: 0026_request_facts
Revises: 0025_queue_indexes
Create Date: 2026-12-07 05:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0026_request_facts'
down_revision = '0025_queue_indexes'
branch_labels = None
depends_on = None

# As bureau.bookings.states.FUNNEL_RANK and SLA_BREACHED say them today (a migration keeps
# its own copy): the furthest funnel stage each state belongs to.
RANK = {
    'shortlisted': 1, 'offer_received': 2, 'awaiting_speaker': 2, 'speaker_declined': 2,
    'speaker_accepted': 2, 'contracted': 2, 'confirmed': 3, 'completed': 4,
}
SLA_BREACHED = 'SLA breached'
INCLUDED = [
    'assigned_staff_id', 'status', 'funnel_stage', 'first_response_at', 'first_confirmed_at',
    'sla_breached',
]


def rank(column):
    whens = ' '.join(f"WHEN '{state}' THEN {n}" for state, n in RANK.items())
    return f'CASE {column} {whens} ELSE 0 END'


# One set-based pass, the same SQL on SQLite (3.33+) and PostgreSQL: per request, its
# timeline grouped (a request without entries still gets its status's stage), then every
# fact set from it at once, as workflow.note() would have kept them.
# Built from the migration's own constants only (no input reaches it).
BACKFILL = f"""
UPDATE booking_requests SET
    funnel_stage = CASE WHEN t.timeline_stage > t.status_stage THEN t.timeline_stage
                        ELSE t.status_stage END,
    first_response_at = t.responded,
    first_confirmed_at = t.confirmed,
    sla_breached = t.breached
FROM (
    SELECT r.id,
           max({rank('r.status')}) AS status_stage,
           coalesce(max({rank('e.to_status')}), 0) AS timeline_stage,
           min(CASE WHEN e.actor_kind = 'staff' AND e.at >= r.created_at THEN e.at END)
               AS responded,
           min(CASE WHEN e.to_status = 'confirmed' THEN e.at END) AS confirmed,
           coalesce(max(CASE WHEN e.action = '{SLA_BREACHED}' THEN 1 ELSE 0 END), 0) = 1
               AS breached
    FROM booking_requests AS r
    LEFT JOIN booking_events AS e ON e.booking_id = r.id
    GROUP BY r.id
) AS t
WHERE booking_requests.id = t.id
"""  # noqa: S608


def upgrade():
    op.add_column(
        'booking_requests',
        sa.Column('funnel_stage', sa.Integer(), server_default='0', nullable=False),
    )
    op.add_column('booking_requests', sa.Column('first_response_at', sa.DateTime(timezone=True)))
    op.add_column('booking_requests', sa.Column('first_confirmed_at', sa.DateTime(timezone=True)))
    op.add_column(
        'booking_requests',
        sa.Column('sla_breached', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # The index is built once, after the rows are filled.
    op.drop_index('ix_booking_requests_created_at_id', table_name='booking_requests')
    op.execute(BACKFILL)
    op.create_index(
        'ix_booking_requests_created_at_id', 'booking_requests', ['created_at', 'id'],
        postgresql_include=INCLUDED,
    )


def downgrade():
    op.drop_index('ix_booking_requests_created_at_id', table_name='booking_requests')
    op.create_index('ix_booking_requests_created_at_id', 'booking_requests', ['created_at', 'id'])
    # Plain DROP COLUMN (SQLite 3.35+): recreating booking_requests would drop a table other
    # rows point at.
    with op.batch_alter_table('booking_requests', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('sla_breached')
        batch_op.drop_column('first_confirmed_at')
        batch_op.drop_column('first_response_at')
        batch_op.drop_column('funnel_stage')
