"""Chinese topic names and home cities

Revision ID: 0024_topic_city_zh
Revises: 0023_speaker_search
Create Date: 2026-12-07 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024_topic_city_zh'
down_revision = '0023_speaker_search'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('topics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_zh', sa.String(length=120), nullable=True))
    with op.batch_alter_table('speakers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('home_city_zh', sa.String(length=120), nullable=True))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): recreating speakers or topics would drop a table
    # other rows point at (see 0022_locales).
    with op.batch_alter_table('speakers', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('home_city_zh')
    with op.batch_alter_table('topics', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('name_zh')
