"""The directory (districts, schools, teachers, classrooms, students, guardians, links, audit log) and sync runs.

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 17:10:36.997901
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('districts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('source_config', sa.JSON(), nullable=False),
    sa.Column('default_channel', sa.String(length=8), nullable=False),
    sa.Column('auto_invite', sa.Boolean(), nullable=False),
    sa.Column('archive_threshold_pct', sa.Integer(), nullable=False),
    sa.Column('sync_manages_guardians', sa.Boolean(), nullable=False),
    sa.Column('sync_updates_joined_contacts', sa.Boolean(), nullable=False),
    sa.Column('excluded_contact_types', sa.JSON(), nullable=False),
    sa.Column('max_guardians_per_student', sa.Integer(), nullable=False),
    sa.Column('phone_region', sa.String(length=2), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('schedule', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_districts')),
    sa.UniqueConstraint('slug', name=op.f('uq_districts_slug'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_audit_log_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_district_at', ['district_id', 'at'], unique=False)

    op.create_table('guardians',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('email_status', sa.String(length=16), nullable=False),
    sa.Column('email_status_reason', sa.String(length=32), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('phone_status', sa.String(length=16), nullable=False),
    sa.Column('phone_status_reason', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_guardians_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardians')),
    sa.UniqueConstraint('district_id', 'source', 'external_id', name=op.f('uq_guardians_district_id_source_external_id'))
    )
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.create_index('ix_guardians_district_email', ['district_id', 'email'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardians_district_id'), ['district_id'], unique=False)
        batch_op.create_index('ix_guardians_district_phone', ['district_id', 'phone'], unique=False)

    op.create_table('schools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('school_number', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_schools_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schools')),
    sa.UniqueConstraint('district_id', 'source', 'external_id', name=op.f('uq_schools_district_id_source_external_id'))
    )
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schools_district_id'), ['district_id'], unique=False)

    op.create_table('sync_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('host', sa.String(length=200), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_sync_runs_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index('ix_sync_runs_district_started', ['district_id', 'started_at'], unique=False)

    op.create_table('sync_state',
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('cursor', sa.JSON(), nullable=False),
    sa.Column('lease_holder', sa.String(length=200), nullable=True),
    sa.Column('lease_run_id', sa.Integer(), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_sync_state_district_id_districts')),
    sa.PrimaryKeyConstraint('district_id', name=op.f('pk_sync_state'))
    )
    op.create_table('teachers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_teachers_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teachers')),
    sa.UniqueConstraint('district_id', 'source', 'external_id', name=op.f('uq_teachers_district_id_source_external_id'))
    )
    with op.batch_alter_table('teachers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teachers_district_id'), ['district_id'], unique=False)

    op.create_table('classrooms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_classrooms_district_id_districts')),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_classrooms_school_id_schools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classrooms')),
    sa.UniqueConstraint('district_id', 'source', 'external_id', name=op.f('uq_classrooms_district_id_source_external_id'))
    )
    with op.batch_alter_table('classrooms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classrooms_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_classrooms_school_id'), ['school_id'], unique=False)

    op.create_table('students',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('given_name', sa.String(length=100), nullable=False),
    sa.Column('family_name', sa.String(length=100), nullable=False),
    sa.Column('student_number', sa.String(length=64), nullable=True),
    sa.Column('birth_date', sa.String(length=10), nullable=True),
    sa.Column('grade', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_students_district_id_districts')),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_students_school_id_schools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_students')),
    sa.UniqueConstraint('district_id', 'source', 'external_id', name=op.f('uq_students_district_id_source_external_id'))
    )
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_students_district_id'), ['district_id'], unique=False)
        batch_op.create_index('ix_students_district_number', ['district_id', 'student_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_students_school_id'), ['school_id'], unique=False)

    op.create_table('taken_drops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_taken_drops_district_id_districts')),
    sa.ForeignKeyConstraint(['run_id'], ['sync_runs.id'], name=op.f('fk_taken_drops_run_id_sync_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_taken_drops')),
    sa.UniqueConstraint('district_id', 'fingerprint', name=op.f('uq_taken_drops_district_id_fingerprint'))
    )
    op.create_table('classroom_teachers',
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.Column('teacher_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['classroom_id'], ['classrooms.id'], name=op.f('fk_classroom_teachers_classroom_id_classrooms')),
    sa.ForeignKeyConstraint(['teacher_id'], ['teachers.id'], name=op.f('fk_classroom_teachers_teacher_id_teachers')),
    sa.PrimaryKeyConstraint('classroom_id', 'teacher_id', name=op.f('pk_classroom_teachers'))
    )
    with op.batch_alter_table('classroom_teachers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classroom_teachers_teacher_id'), ['teacher_id'], unique=False)

    op.create_table('enrollments',
    sa.Column('classroom_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['classroom_id'], ['classrooms.id'], name=op.f('fk_enrollments_classroom_id_classrooms')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_enrollments_student_id_students')),
    sa.PrimaryKeyConstraint('classroom_id', 'student_id', name=op.f('pk_enrollments'))
    )
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollments_student_id'), ['student_id'], unique=False)

    op.create_table('guardian_links',
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('relationship', sa.String(length=64), nullable=True),
    sa.Column('contact_type', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_guardian_links_guardian_id_guardians')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_guardian_links_student_id_students')),
    sa.PrimaryKeyConstraint('guardian_id', 'student_id', name=op.f('pk_guardian_links'))
    )
    with op.batch_alter_table('guardian_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardian_links_student_id'), ['student_id'], unique=False)

    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('guardian_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_invitations_district_id_districts')),
    sa.ForeignKeyConstraint(['guardian_id'], ['guardians.id'], name=op.f('fk_invitations_guardian_id_guardians')),
    sa.ForeignKeyConstraint(['student_id'], ['students.id'], name=op.f('fk_invitations_student_id_students')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index('ix_invitations_status', ['status'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('ix_invitations_status')
        batch_op.drop_index(batch_op.f('ix_invitations_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_invitations_district_id'))

    op.drop_table('invitations')
    with op.batch_alter_table('guardian_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_links_student_id'))

    op.drop_table('guardian_links')
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollments_student_id'))

    op.drop_table('enrollments')
    with op.batch_alter_table('classroom_teachers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classroom_teachers_teacher_id'))

    op.drop_table('classroom_teachers')
    op.drop_table('taken_drops')
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_students_school_id'))
        batch_op.drop_index('ix_students_district_number')
        batch_op.drop_index(batch_op.f('ix_students_district_id'))

    op.drop_table('students')
    with op.batch_alter_table('classrooms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classrooms_school_id'))
        batch_op.drop_index(batch_op.f('ix_classrooms_district_id'))

    op.drop_table('classrooms')
    with op.batch_alter_table('teachers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teachers_district_id'))

    op.drop_table('teachers')
    op.drop_table('sync_state')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_district_started')

    op.drop_table('sync_runs')
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schools_district_id'))

    op.drop_table('schools')
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.drop_index('ix_guardians_district_phone')
        batch_op.drop_index(batch_op.f('ix_guardians_district_id'))
        batch_op.drop_index('ix_guardians_district_email')

    op.drop_table('guardians')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_district_at')

    op.drop_table('audit_log')
    op.drop_table('districts')
    
