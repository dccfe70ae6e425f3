"""holds.uid: each hold's feed UID, random at the bureau's mail domain (was hold-<id>@bureau,
which collides across bureaus and restored databases); existing holds get random ones

Revision ID: 0013_hold_uid
Revises: 0012_job_holder
Create Date: 2026-12-06 00:10:00.000000

"""
import uuid
from email.utils import parseaddr

from alembic import op
import sqlalchemy as sa
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0013_hold_uid'
down_revision = '0012_job_holder'
branch_labels = None
depends_on = None


def _domain():
    # The one rule of calendar.ics.mail_domain(), repeated: migrations do not import bureau.
    address = parseaddr(current_app.config["BUREAU_SETTINGS"].mail_from)[1]
    return address.rpartition("@")[2] or "bureau.localhost"


def upgrade():
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uid', sa.String(length=120), nullable=True))
    holds = sa.table('holds', sa.column('id', sa.Integer()), sa.column('uid', sa.String()))
    connection = op.get_bind()
    domain = _domain()
    rows = [
        {"row": row_id, "uid": f"{uuid.uuid4()}@{domain}"}
        for (row_id,) in connection.execute(sa.select(holds.c.id))
    ]
    if rows:
        connection.execute(
            holds.update().where(holds.c.id == sa.bindparam("row")).values(uid=sa.bindparam("uid")),
            rows,
        )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.alter_column('uid', existing_type=sa.String(length=120), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_holds_uid'), ['uid'])


def downgrade():
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_holds_uid'), type_='unique')
        batch_op.drop_column('uid')
