"""bounces in the mail log (notifications.bounced_at, bounce_reason) and calendar_answers

Revision ID: 0021_inbound_signals
Revises: 0020_inbound
Create Date: 2026-12-06 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_inbound_signals'
down_revision = '0020_inbound'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bounced_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('bounce_reason', sa.Text(), nullable=True))
    op.create_table(
        'calendar_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('engagement_id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('partstat', sa.String(length=20), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['engagement_id'],
            ['engagements.id'],
            name=op.f('fk_calendar_answers_engagement_id_engagements'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_answers')),
        sa.UniqueConstraint(
            'engagement_id', 'address', name=op.f('uq_calendar_answers_engagement_id_address')
        ),
    )


def downgrade():
    op.drop_table('calendar_answers')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('bounce_reason')
        batch_op.drop_column('bounced_at')
