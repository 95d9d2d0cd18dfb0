"""Web app accounts: users (role, district, password hash, API token hash) and a leader's schools.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_web_users_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_users')),
    sa.UniqueConstraint('email', name=op.f('uq_web_users_email')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_users_token_hash'))
    )
    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_users_district_id'), ['district_id'], unique=False)

    op.create_table('web_user_schools',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_web_user_schools_school_id_schools')),
    sa.ForeignKeyConstraint(['user_id'], ['web_users.id'], name=op.f('fk_web_user_schools_user_id_web_users')),
    sa.PrimaryKeyConstraint('user_id', 'school_id', name=op.f('pk_web_user_schools'))
    )
    with op.batch_alter_table('web_user_schools', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_user_schools_school_id'), ['school_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_user_schools', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_user_schools_school_id'))
    op.drop_table('web_user_schools')
    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_users_district_id'))
    op.drop_table('web_users')
