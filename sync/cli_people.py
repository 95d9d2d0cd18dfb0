"""CLI: the manual functions on students and guardians (those a sync locks on synced schools)."""

from __future__ import annotations

import click

from directory.audit import snapshot
from sync.cli_support import app_of, emit, json_option, override_option


def _student_dict(s) -> dict:
    return snapshot(s, ["id", "school_id", "given_name", "family_name", "student_number", "birth_date", "grade",
                        "status", "source", "external_id"])


def _guardian_dict(g) -> dict:
    return snapshot(g, ["id", "given_name", "family_name", "email", "email_status", "phone", "phone_status",
                        "state", "status", "source", "external_id"])


@click.group()
def student() -> None:
    """Enroll, assign, edit, archive and restore students (locked on synced schools)."""


@student.command("enroll")
@click.argument("district_slug", metavar="DISTRICT")
@click.option("--school", "school_id", type=int, required=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--number", "student_number", help="Student number in the SIS (unique among active students).")
@click.option("--birth-date", help="YYYY-MM-DD")
@click.option("--grade")
@click.option("--classroom", "classroom_ids", type=int, multiple=True, help="A classroom id; repeat for more.")
@override_option
@json_option
@click.pass_context
def student_enroll(ctx, district_slug, school_id, given_name, family_name, student_number, birth_date, grade,
                   classroom_ids, override_reason, as_json) -> None:
    """Create a student in a school, optionally in classrooms."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        s = svc.enroll_student(school_id, given_name, family_name, student_number, birth_date, grade, classroom_ids)
        emit(as_json, _student_dict(s), f"student {s.id} enrolled in school {s.school_id}")


@student.command("assign")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("student_id", type=int)
@click.argument("classroom_id", type=int)
@override_option
@click.pass_context
def student_assign(ctx, district_slug, student_id, classroom_id, override_reason) -> None:
    """Put an existing student in a classroom."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        svc.assign_student(student_id, classroom_id)
    click.echo(f"student {student_id} assigned to classroom {classroom_id}")


@student.command("unassign")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("student_id", type=int)
@click.argument("classroom_id", type=int)
@override_option
@click.pass_context
def student_unassign(ctx, district_slug, student_id, classroom_id, override_reason) -> None:
    """Take a student out of a classroom."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        svc.unassign_student(student_id, classroom_id)
    click.echo(f"student {student_id} removed from classroom {classroom_id}")


@student.command("edit")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("student_id", type=int)
@click.option("--given-name")
@click.option("--family-name")
@click.option("--number", "student_number")
@click.option("--birth-date", help="YYYY-MM-DD")
@click.option("--grade")
@click.option("--school", "school_id", type=int, help="Move the student to this school.")
@override_option
@json_option
@click.pass_context
def student_edit(ctx, district_slug, student_id, override_reason, as_json, **changes) -> None:
    """Change a student's details."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        s = svc.edit_student(student_id, **changes)
        emit(as_json, _student_dict(s), f"student {s.id} updated")


@student.command("archive")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("student_ids", type=int, nargs=-1, required=True, metavar="STUDENT_ID...")
@override_option
@click.pass_context
def student_archive(ctx, district_slug, student_ids, override_reason) -> None:
    """Archive students who graduated or left (kept, not deleted); several at once, all or none."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        archived = svc.archive_students(student_ids)
    click.echo(f"{len(archived)} student(s) archived: {', '.join(str(s.id) for s in archived)}")


@student.command("restore")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("student_id", type=int)
@override_option
@click.pass_context
def student_restore(ctx, district_slug, student_id, override_reason) -> None:
    """Bring an archived student back."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        svc.restore_student(student_id)
    click.echo(f"student {student_id} restored")


@click.group()
def guardian() -> None:
    """Add, edit and remove guardians (locked on synced schools while the sync manages guardians)."""


@guardian.command("add")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("student_id", type=int)
@click.option("--email", help="The guardian's email address.")
@click.option("--phone", help="The guardian's mobile number (E.164, or national for the district's region).")
@click.option("--given-name", default="")
@click.option("--family-name", default="")
@click.option("--relationship", help="mother, father, guardian, grandparent, ...")
@click.option("--invite-existing", is_flag=True,
              help="If the email or phone already belongs to an account, link that account instead of refusing.")
@override_option
@json_option
@click.pass_context
def guardian_add(ctx, district_slug, student_id, email, phone, given_name, family_name, relationship,
                 invite_existing, override_reason, as_json) -> None:
    """Add a guardian to a student by email and/or mobile number.

    If the email or the phone already belongs to an account, the pair is refused ("This email and phone
    can't be used at the same time"): invite the existing account instead (--invite-existing), and the
    parent adds the other contact in their account settings.
    """
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        g, outcome = svc.add_guardian(student_id, email, phone, given_name, family_name, relationship,
                                      invite_existing)
        emit(as_json, {**_guardian_dict(g), "outcome": outcome},
             f"guardian {g.id} {outcome} and linked to student {student_id}")


@guardian.command("edit")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("guardian_id", type=int)
@click.option("--given-name")
@click.option("--family-name")
@click.option("--email")
@click.option("--phone")
@override_option
@json_option
@click.pass_context
def guardian_edit(ctx, district_slug, guardian_id, given_name, family_name, email, phone, override_reason,
                  as_json) -> None:
    """Change a guardian's name or contact details (not of a guardian who joined: theirs to change)."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        g = svc.edit_guardian(guardian_id, given_name, family_name, email, phone)
        emit(as_json, _guardian_dict(g), f"guardian {g.id} updated")


@guardian.command("remove")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("guardian_id", type=int)
@click.option("--student", "student_id", type=int, help="Only from this student (default: from all).")
@override_option
@click.pass_context
def guardian_remove(ctx, district_slug, guardian_id, student_id, override_reason) -> None:
    """Remove one guardian from a student, or from all their students."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        n = svc.remove_guardian(guardian_id, student_id)
    click.echo(f"guardian {guardian_id} removed from {n} student(s)")


@guardian.command("remove-all")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("student_ids", type=int, nargs=-1, required=True, metavar="STUDENT_ID...")
@override_option
@click.pass_context
def guardian_remove_all(ctx, district_slug, student_ids, override_reason) -> None:
    """Remove all guardians of these students (e.g. after they graduate); all or none."""
    with app_of(ctx).directory(district_slug, override_reason) as svc:
        n = svc.remove_all_guardians(student_ids)
    click.echo(f"{n} guardian link(s) removed from {len(student_ids)} student(s)")


@guardian.command("joined")
@click.argument("district_slug", metavar="DISTRICT")
@click.argument("guardian_id", type=int)
@click.pass_context
def guardian_joined(ctx, district_slug, guardian_id) -> None:
    """Record that a guardian signed up (what the platform's sign-up reports); their contacts become theirs."""
    with app_of(ctx).directory(district_slug) as svc:
        svc.mark_joined(guardian_id)
    click.echo(f"guardian {guardian_id} has joined")
