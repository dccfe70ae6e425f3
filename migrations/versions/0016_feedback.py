"""organizer_feedback: the organizer's rating (1-5) and comments after a completed booking

Revision ID: 0016_feedback
Revises: 0015_sign_in_limits
Create Date: 2026-12-06 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_feedback'
down_revision = '0015_sign_in_limits'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'organizer_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('rating', sa.Integer(), nullable=False),
        sa.Column('comments', sa.String(length=2000), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('rating BETWEEN 1 AND 5', name=op.f('ck_organizer_feedback_rating')),
        sa.ForeignKeyConstraint(
            ['booking_id'],
            ['booking_requests.id'],
            name=op.f('fk_organizer_feedback_booking_id_booking_requests'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_organizer_feedback')),
        sa.UniqueConstraint('booking_id', name=op.f('uq_organizer_feedback_booking_id')),
    )
    with op.batch_alter_table('organizer_feedback', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_organizer_feedback_created_at'), ['created_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('organizer_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organizer_feedback_created_at'))
    op.drop_table('organizer_feedback')
