"""sign_in_failures: wrong passwords per (email, client address), replacing the per-account
lock-out columns; rate_limit_hits: rate limits every web process shares without Redis

Revision ID: 0015_sign_in_limits
Revises: 0014_own_calendars
Create Date: 2026-12-06 00:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_sign_in_limits'
down_revision = '0014_own_calendars'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sign_in_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failures')),
    )
    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.create_index('ix_sign_in_failures_email_client', ['email', 'client', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_failures_at'), ['at'], unique=False)

    op.create_table(
        'rate_limit_hits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=500), nullable=False),
        sa.Column('expires', sa.Float(), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_limit_hits')),
    )
    with op.batch_alter_table('rate_limit_hits', schema=None) as batch_op:
        batch_op.create_index('ix_rate_limit_hits_key_expires', ['key', 'expires'], unique=False)
        batch_op.create_index(batch_op.f('ix_rate_limit_hits_expires'), ['expires'], unique=False)

    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')


def downgrade():
    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('rate_limit_hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_hits_expires'))
        batch_op.drop_index('ix_rate_limit_hits_key_expires')
    op.drop_table('rate_limit_hits')

    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_failures_at'))
        batch_op.drop_index('ix_sign_in_failures_email_client')
    op.drop_table('sign_in_failures')
