"""jobs.locked_by: which worker process holds a running job, so its claims can be released
as soon as that process is known to be dead

Revision ID: 0012_job_holder
Revises: 0011_holds_by_end
Create Date: 2026-11-30 08:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_job_holder'
down_revision = '0011_holds_by_end'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_by', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('locked_by')
