"""Retention: a district's retention_days (archived students older than this are purged; NULL keeps them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable with no default: every existing district keeps its archived students until someone
    # chooses a retention period, so upgrading never deletes anything.
    with op.batch_alter_table('districts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('districts', schema=None) as batch_op:
        batch_op.drop_column('retention_days')
