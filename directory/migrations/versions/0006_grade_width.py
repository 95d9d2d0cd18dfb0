"""Students' grade holds 32 characters: Clever's grade names go up to 24 ("TransitionalKindergarten").

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Widening only: every value already stored fits.
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.alter_column('grade', existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.alter_column('grade', existing_type=sa.String(length=32), type_=sa.String(length=16),
                              existing_nullable=True)
