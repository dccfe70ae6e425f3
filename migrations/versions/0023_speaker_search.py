"""speaker search in Chinese too: pg_trgm and a trigram index on names and headlines

Revision ID: 0023_speaker_search
Revises: 0022_locales
Create Date: 2026-12-07 00:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0023_speaker_search'
down_revision = '0022_locales'
branch_labels = None
depends_on = None

COLUMNS = ['name', 'name_zh', 'headline', 'headline_zh']


def upgrade():
    # PostgreSQL's text search has no Chinese parser: Chinese words are found with ILIKE,
    # which a GIN index of trigrams serves. SQLite has neither; it gets a plain index.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index(
        'ix_speakers_search',
        'speakers',
        COLUMNS,
        unique=False,
        postgresql_using='gin',
        postgresql_ops=dict.fromkeys(COLUMNS, 'gin_trgm_ops'),
    )


def downgrade():
    # The extension stays: other databases' objects may use it, and it is harmless.
    op.drop_index('ix_speakers_search', table_name='speakers')
