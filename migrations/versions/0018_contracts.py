"""contracts: agreement templates, contract versions (text and hash), their acceptance

Revision ID: 0018_contracts
Revises: 0017_invoices
Create Date: 2026-12-06 19:58:16.146828

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_contracts'
down_revision = '0017_invoices'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agreement_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('edited_by_id', sa.Integer(), nullable=True),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['edited_by_id'], ['staff_members.id'], name=op.f('fk_agreement_templates_edited_by_id_staff_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_agreement_templates_name'))
    )
    op.create_table('contract_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('declined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decline_reason', sa.String(length=1000), nullable=True),
    sa.Column('countersigned_by_id', sa.Integer(), nullable=True),
    sa.Column('countersigned_by_name', sa.String(length=120), nullable=True),
    sa.Column('countersigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('sent', 'accepted', 'declined', 'void')", name=op.f('ck_contract_versions_status')),
    sa.CheckConstraint('length(sha256) = 64', name=op.f('ck_contract_versions_sha256')),
    sa.ForeignKeyConstraint(['booking_id'], ['booking_requests.id'], name=op.f('fk_contract_versions_booking_id_booking_requests'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['countersigned_by_id'], ['staff_members.id'], name=op.f('fk_contract_versions_countersigned_by_id_staff_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['template_id'], ['agreement_templates.id'], name=op.f('fk_contract_versions_template_id_agreement_templates'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_versions')),
    sa.UniqueConstraint('booking_id', 'number', name=op.f('uq_contract_versions_booking_id_number'))
    )
    with op.batch_alter_table('contract_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_versions_booking_id'), ['booking_id'], unique=False)

    op.create_table('contract_acceptances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('organization', sa.String(length=200), nullable=False),
    sa.Column('on_behalf', sa.Boolean(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('client_address', sa.String(length=45), nullable=False),
    sa.Column('user_agent', sa.String(length=500), nullable=False),
    sa.Column('version_sha256', sa.String(length=64), nullable=False),
    sa.Column('billing_address', sa.String(length=500), nullable=False),
    sa.Column('tax_number', sa.String(length=50), nullable=True),
    sa.CheckConstraint('length(version_sha256) = 64', name=op.f('ck_contract_acceptances_version_sha256')),
    sa.CheckConstraint('on_behalf', name=op.f('ck_contract_acceptances_on_behalf')),
    sa.ForeignKeyConstraint(['version_id'], ['contract_versions.id'], name=op.f('fk_contract_acceptances_version_id_contract_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_acceptances')),
    sa.UniqueConstraint('version_id', name=op.f('uq_contract_acceptances_version_id'))
    )


def downgrade():
    op.drop_table('contract_acceptances')
    with op.batch_alter_table('contract_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_versions_booking_id'))

    op.drop_table('contract_versions')
    op.drop_table('agreement_templates')
