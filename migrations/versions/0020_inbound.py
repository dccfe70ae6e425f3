"""inbound_messages: every email received (IMAP or pipe), stored raw before it is read

Revision ID: 0020_inbound
Revises: 0019_payouts
Create Date: 2026-12-06 21:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_inbound'
down_revision = '0019_payouts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'inbound_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('raw', sa.LargeBinary(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
        sa.Column('uid', sa.BigInteger(), nullable=True),
        sa.Column('message_id', sa.String(length=998), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('sender', sa.String(length=320), nullable=True),
        sa.Column('subject', sa.String(length=300), nullable=True),
        sa.Column('booking_id', sa.Integer(), nullable=True),
        sa.Column('matched_by', sa.String(length=20), nullable=True),
        sa.Column('from_known_party', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ['booking_id'],
            ['booking_requests.id'],
            name=op.f('fk_inbound_messages_booking_id_booking_requests'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
        sa.UniqueConstraint('message_id', name=op.f('uq_inbound_messages_message_id')),
        sa.UniqueConstraint(
            'uidvalidity', 'uid', name=op.f('uq_inbound_messages_uidvalidity_uid')
        ),
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_inbound_messages_booking_id'), ['booking_id'], unique=False
        )
        batch_op.create_index(batch_op.f('ix_inbound_messages_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_messages_status'))
        batch_op.drop_index(batch_op.f('ix_inbound_messages_booking_id'))
    op.drop_table('inbound_messages')
