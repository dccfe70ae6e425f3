"""holds index (state, ends_at): the speakers held on a date, without reading past holds

Revision ID: 0011_holds_by_end
Revises: 0010_requests_by_age
Create Date: 2026-11-30 03:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011_holds_by_end'
down_revision = '0010_requests_by_age'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index('ix_holds_state_ends_at', ['state', 'ends_at'], unique=False)


def downgrade():
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index('ix_holds_state_ends_at')
