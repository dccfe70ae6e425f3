"""invoices, payments and invoice_counters: the organizer's invoices and the money received

Revision ID: 0017_invoices
Revises: 0016_feedback
Create Date: 2026-12-06 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_invoices'
down_revision = '0016_feedback'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'invoice_counters',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('value', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('year', name=op.f('pk_invoice_counters')),
    )
    op.create_table(
        'invoices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('issued_on', sa.Date(), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('decimals', sa.Integer(), nullable=False),
        sa.Column('net_minor', sa.BigInteger(), nullable=False),
        sa.Column('tax_rate', sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column('tax_minor', sa.BigInteger(), nullable=False),
        sa.Column('total_minor', sa.BigInteger(), nullable=False),
        sa.Column('client_organization', sa.String(length=200), nullable=False),
        sa.Column('client_address', sa.Text(), nullable=True),
        sa.Column('client_tax_number', sa.String(length=60), nullable=True),
        sa.Column('issuer_name', sa.String(length=200), nullable=False),
        sa.Column('issuer_address', sa.Text(), nullable=True),
        sa.Column('issuer_tax_number', sa.String(length=60), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('void_reason', sa.String(length=1000), nullable=True),
        sa.CheckConstraint('tax_rate >= 0 AND tax_rate <= 100', name=op.f('ck_invoices_tax_rate')),
        sa.CheckConstraint('decimals BETWEEN 0 AND 4', name=op.f('ck_invoices_decimals')),
        sa.CheckConstraint('total_minor = net_minor + tax_minor', name=op.f('ck_invoices_total')),
        sa.CheckConstraint(
            "(kind = 'credit_note' AND net_minor < 0) OR (kind != 'credit_note' AND net_minor > 0)",
            name=op.f('ck_invoices_sign'),
        ),
        sa.CheckConstraint('due_on >= issued_on', name=op.f('ck_invoices_due_after_issue')),
        sa.ForeignKeyConstraint(
            ['booking_id'],
            ['booking_requests.id'],
            name=op.f('fk_invoices_booking_id_booking_requests'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
        sa.UniqueConstraint('number', name=op.f('uq_invoices_number')),
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoices_booking_id'), ['booking_id'], unique=False)

    op.create_table(
        'payments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('paid_on', sa.Date(), nullable=False),
        sa.Column('method', sa.String(length=20), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payments_amount_positive')),
        sa.ForeignKeyConstraint(
            ['invoice_id'], ['invoices.id'], name=op.f('fk_payments_invoice_id_invoices')
        ),
        sa.ForeignKeyConstraint(
            ['recorded_by_id'],
            ['staff_members.id'],
            name=op.f('fk_payments_recorded_by_id_staff_members'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_invoice_id'), ['invoice_id'], unique=False)


def downgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_invoice_id'))
    op.drop_table('payments')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoices_booking_id'))
    op.drop_table('invoices')
    op.drop_table('invoice_counters')
