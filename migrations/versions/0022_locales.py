"""languages: a request's, a speaker's and a staff member's locale; Chinese speaker texts;
a post's language

Revision ID: 0022_locales
Revises: 0021_inbound_signals
Create Date: 2026-12-06 23:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_locales'
down_revision = '0021_inbound_signals'
branch_labels = None
depends_on = None


def _locale():
    return sa.Column('locale', sa.String(length=16), server_default='en', nullable=False)


def upgrade():
    with op.batch_alter_table('booking_requests', schema=None) as batch_op:
        batch_op.add_column(_locale())
    with op.batch_alter_table('staff_members', schema=None) as batch_op:
        batch_op.add_column(_locale())
    with op.batch_alter_table('speakers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_zh', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('headline_zh', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('bio_zh', sa.Text(), nullable=True))
        batch_op.add_column(_locale())
    with op.batch_alter_table('posts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('language', sa.String(length=16), server_default='en', nullable=False)
        )


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): recreating speakers or booking_requests would drop
    # a table other rows point at.
    with op.batch_alter_table('posts', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('language')
    with op.batch_alter_table('speakers', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('locale')
        batch_op.drop_column('bio_zh')
        batch_op.drop_column('headline_zh')
        batch_op.drop_column('name_zh')
    with op.batch_alter_table('staff_members', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('booking_requests', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('locale')
