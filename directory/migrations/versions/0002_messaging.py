"""Messaging: invitation join codes and relay claims, message deliveries, announcements.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00
"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# A copy of messaging.joincodes at the time of writing: a migration must not change when the code does.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _join_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def upgrade() -> None:
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('join_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('claim_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('not_before', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('channel', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('error', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('resends', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('skip_channels', sa.String(length=16), nullable=True))

    # Invitations queued before this revision get their join code now (each its own random one).
    invitations = sa.table('invitations', sa.column('id', sa.Integer), sa.column('join_code', sa.String))
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.select(invitations.c.id).where(invitations.c.join_code.is_(None)))]
    if ids:
        conn.execute(sa.update(invitations).where(invitations.c.id == sa.bindparam('_id'))
                     .values(join_code=sa.bindparam('code')), [{'_id': i, 'code': _join_code()} for i in ids])

    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.alter_column('join_code', existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column('attempts', existing_type=sa.Integer(), server_default=None)
        batch_op.alter_column('resends', existing_type=sa.Integer(), server_default=None)
        batch_op.create_unique_constraint(batch_op.f('uq_invitations_join_code'), ['join_code'])

    op.create_table('announcements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_announcements_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements'))
    )
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_announcements_district_id'), ['district_id'], unique=False)

    op.create_table('announcement_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('announcement_id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claimed_by', sa.String(length=200), nullable=True),
    sa.Column('claim_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('skip_channels', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['announcement_id'], ['announcements.id'], name=op.f('fk_announcement_recipients_announcement_id_announcements')),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_announcement_recipients_district_id_districts')),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_announcement_recipients_guardian_id_guardians')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcement_recipients')),
    sa.UniqueConstraint('announcement_id', 'guardian_id', name=op.f('uq_announcement_recipients_announcement_id_guardian_id'))
    )
    with op.batch_alter_table('announcement_recipients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_announcement_recipients_announcement_id'), ['announcement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_announcement_recipients_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_announcement_recipients_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index('ix_announcement_recipients_status', ['status'], unique=False)

    op.create_table('message_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('item_type', sa.String(length=16), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('transport', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.String(length=300), nullable=True),
    sa.Column('provider_id', sa.String(length=64), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_message_deliveries_district_id_districts')),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_message_deliveries_guardian_id_guardians')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_deliveries')),
    sa.UniqueConstraint('key', name=op.f('uq_message_deliveries_key'))
    )
    with op.batch_alter_table('message_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_deliveries_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_deliveries_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index('ix_message_deliveries_item', ['item_type', 'item_id'], unique=False)
        batch_op.create_index('ix_message_deliveries_status', ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('message_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_message_deliveries_status')
        batch_op.drop_index('ix_message_deliveries_item')
        batch_op.drop_index(batch_op.f('ix_message_deliveries_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_message_deliveries_district_id'))
    op.drop_table('message_deliveries')
    with op.batch_alter_table('announcement_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_announcement_recipients_status')
        batch_op.drop_index(batch_op.f('ix_announcement_recipients_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_announcement_recipients_district_id'))
        batch_op.drop_index(batch_op.f('ix_announcement_recipients_announcement_id'))
    op.drop_table('announcement_recipients')
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_announcements_district_id'))
    op.drop_table('announcements')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_invitations_join_code'), type_='unique')
        for column in ('skip_channels', 'resends', 'error', 'sent_at', 'channel', 'attempts', 'not_before', 'claim_expires_at',
                       'claimed_by', 'join_code'):
            batch_op.drop_column(column)
