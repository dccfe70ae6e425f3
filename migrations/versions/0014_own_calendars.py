"""blackouts, speaker_calendars, busy_intervals: a speaker's own busy time in conflict checks

Revision ID: 0014_own_calendars
Revises: 0013_hold_uid
Create Date: 2026-12-06 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_own_calendars'
down_revision = '0013_hold_uid'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('blackouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('speaker_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('entered_by', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_blackouts_ends_after_start')),
    sa.ForeignKeyConstraint(['speaker_id'], ['speakers.id'], name=op.f('fk_blackouts_speaker_id_speakers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blackouts'))
    )
    with op.batch_alter_table('blackouts', schema=None) as batch_op:
        batch_op.create_index('ix_blackouts_speaker_id_ends_at', ['speaker_id', 'ends_at'], unique=False)

    op.create_table('busy_intervals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('speaker_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_busy_intervals_ends_after_start')),
    sa.ForeignKeyConstraint(['speaker_id'], ['speakers.id'], name=op.f('fk_busy_intervals_speaker_id_speakers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_busy_intervals'))
    )
    with op.batch_alter_table('busy_intervals', schema=None) as batch_op:
        batch_op.create_index('ix_busy_intervals_speaker_id_ends_at', ['speaker_id', 'ends_at'], unique=False)

    op.create_table('speaker_calendars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('speaker_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=True),
    sa.Column('password_secret', sa.Text(), nullable=True),
    sa.Column('etag', sa.String(length=300), nullable=True),
    sa.Column('last_modified', sa.String(length=100), nullable=True),
    sa.Column('next_fetch_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_fetch_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_result', sa.String(length=300), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['speaker_id'], ['speakers.id'], name=op.f('fk_speaker_calendars_speaker_id_speakers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_speaker_calendars')),
    sa.UniqueConstraint('speaker_id', name=op.f('uq_speaker_calendars_speaker_id'))
    )
    with op.batch_alter_table('speaker_calendars', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_speaker_calendars_next_fetch_at'), ['next_fetch_at'], unique=False)


def downgrade():
    with op.batch_alter_table('speaker_calendars', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_speaker_calendars_next_fetch_at'))
    op.drop_table('speaker_calendars')
    with op.batch_alter_table('busy_intervals', schema=None) as batch_op:
        batch_op.drop_index('ix_busy_intervals_speaker_id_ends_at')
    op.drop_table('busy_intervals')
    with op.batch_alter_table('blackouts', schema=None) as batch_op:
        batch_op.drop_index('ix_blackouts_speaker_id_ends_at')
    op.drop_table('blackouts')
