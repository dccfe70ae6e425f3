"""payout_statements: what the bureau owes each speaker per engagement, and when it was paid

Revision ID: 0019_payouts
Revises: 0018_contracts
Create Date: 2026-12-06 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_payouts'
down_revision = '0018_contracts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'payout_statements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('speaker_id', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('decimals', sa.Integer(), nullable=False),
        sa.Column('fee_minor', sa.BigInteger(), nullable=False),
        sa.Column('commission_pct', sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column('commission_minor', sa.BigInteger(), nullable=False),
        sa.Column('net_minor', sa.BigInteger(), nullable=False),
        sa.Column('event_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=True),
        sa.Column('paid_by_id', sa.Integer(), nullable=True),
        sa.Column('paid_recorded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reference', sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            'commission_pct >= 0 AND commission_pct <= 100',
            name=op.f('ck_payout_statements_commission_pct'),
        ),
        sa.CheckConstraint('decimals BETWEEN 0 AND 4', name=op.f('ck_payout_statements_decimals')),
        sa.CheckConstraint(
            'fee_minor >= 0 AND commission_minor >= 0', name=op.f('ck_payout_statements_amounts')
        ),
        sa.CheckConstraint(
            'net_minor = fee_minor - commission_minor', name=op.f('ck_payout_statements_net')
        ),
        sa.CheckConstraint(
            'due_on >= event_on', name=op.f('ck_payout_statements_due_after_event')
        ),
        sa.ForeignKeyConstraint(
            ['booking_id'],
            ['booking_requests.id'],
            name=op.f('fk_payout_statements_booking_id_booking_requests'),
        ),
        sa.ForeignKeyConstraint(
            ['speaker_id'], ['speakers.id'], name=op.f('fk_payout_statements_speaker_id_speakers')
        ),
        sa.ForeignKeyConstraint(
            ['paid_by_id'],
            ['staff_members.id'],
            name=op.f('fk_payout_statements_paid_by_id_staff_members'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_statements')),
        sa.UniqueConstraint(
            'booking_id', 'speaker_id', name=op.f('uq_payout_statements_booking_id_speaker_id')
        ),
    )
    with op.batch_alter_table('payout_statements', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_payout_statements_booking_id'), ['booking_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_payout_statements_speaker_id'), ['speaker_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('payout_statements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payout_statements_speaker_id'))
        batch_op.drop_index(batch_op.f('ix_payout_statements_booking_id'))
    op.drop_table('payout_statements')
