"""What the sync properties (tests/test_properties_sync.py) found, as plain examples on both databases.

Each was a real bug in how a sync treats what a school typed in by hand before it connected its SIS,
and the accounts of parents who joined: links made by hand, numbers that move between families.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from connectors.records import (KINDS, ClassroomRecord, EnrollmentRecord, GuardianLink, GuardianRecord, RosterBatch,
                                SchoolRecord, StudentRecord, TeacherRecord)
from connectors.sftp.drop_writer import write_oneroster_drop
from sync.run import run_sync
from sync_harness import Directory


@pytest.fixture
def directory(db_url):
    d = Directory(db_url)
    yield d
    d.close()


def _roster(guardians) -> RosterBatch:
    """One school, a class, Ana (1001) and Ben (1002), and ``guardians``: a complete (bulk) roster."""
    batch = RosterBatch("oneroster-csv", schools=[SchoolRecord("sch-a", "Lincoln Elementary", "100")],
                        teachers=[TeacherRecord("t1", "Tess", "Teach")],
                        classrooms=[ClassroomRecord("c1", "sch-a", "Room 7")],
                        students=[StudentRecord("s1", "sch-a", "Ana", "Nguyen", "1001"),
                                  StudentRecord("s2", "sch-a", "Ben", "Smith", "1002")],
                        guardians=list(guardians), enrollments=[EnrollmentRecord("c1", "s1")])
    batch.complete = frozenset(KINDS)
    return batch


def test_a_hand_made_link_the_sis_also_names_is_not_added_again_every_night(directory, tmp_path):
    # Found by property 1. A school typed in Ana and her mother by hand, then connected its SIS, which
    # has both. The link stays hand-made (the sync never removes it), but the sync used to see it as
    # missing: every run reported a guardian link added (the directory "updated") and, when the mother
    # had joined, queued her a "you were added to a class" notice for her own daughter, every night.
    for joined in (False, True):
        folder = tmp_path / f"drop-{joined}"
        slug = directory.district(source_config={"path": str(folder)})
        with directory.service(slug) as svc:
            school = svc.add_school("Lincoln Elementary", "100")
            ana = svc.enroll_student(school.id, "Ana", "Nguyen", "1001")
            mum, _ = svc.add_guardian(ana.id, email="mum@example.org", given_name="Mia", family_name="Nguyen")
            if joined:
                svc.mark_joined(mum.id)
        before = len(directory.invitations(slug))
        write_oneroster_drop(_roster([GuardianRecord("g1", "Mia", "Nguyen", "Mum@Example.org",
                                                     links=(GuardianLink("s1", "parent", "parent"),))]), folder)
        first = run_sync(directory.engine, slug)
        assert first.status == "succeeded", first.report["errors"]
        assert first.report["counts"]["guardian_links"]["added"] == 0, joined
        assert first.report["invitations_queued"] == 0 and len(directory.invitations(slug)) == before, joined
        again = run_sync(directory.engine, slug, full=True)
        assert again.report["directory_state"] == "unchanged", (joined, again.report["counts"])
        assert again.report["invitations_queued"] == 0
        links = directory.export(slug)["links"]
        assert [(l["guardian_id"], l["student_id"]) for l in links] == [(mum.id, ana.id)]


def test_a_number_a_joined_parent_gave_up_goes_to_its_new_holder_not_to_her_account(directory):
    # Found by property 1, with `sync_updates_joined_contacts on`. The SIS moves a mobile number from a
    # mother who joined to another family's guardian in the same night. The sync used to match the new
    # guardian to the mother's account by the number she was giving up in that very run: it linked the
    # other family's child to her account and queued her an "added to a class" notice naming that child;
    # the next night undid it. The new guardian is created and invited instead.
    slug = directory.district(sync_updates_joined_contacts="on")
    mother = GuardianRecord("g1", "Mia", "Nguyen", None, "201-555-0123", "cell", (GuardianLink("s1", "parent"),))
    directory.sync(slug, _roster([mother]))
    with directory.service(slug) as svc:
        svc.mark_joined(next(g["id"] for g in directory.export(slug)["guardians"] if g["external_id"] == "g1"))
    new_holder = GuardianRecord("g2", "Bo", "Smith", None, "201-555-0123", "cell", (GuardianLink("s2", "parent"),))
    night2 = _roster([replace(mother, phone="212-555-0100"), new_holder])
    cs, _ = directory.sync(slug, night2)
    assert [k for k, _ in cs.kinds["guardians"].creates] == ["g2"]
    assert not [p for p in cs.problems if p["code"] == "email_phone_conflict"]
    data = directory.export(slug)
    ids = {g["id"]: g["external_id"] for g in data["guardians"]}
    students = {s["id"]: s["external_id"] for s in data["students"]}
    assert sorted((ids[l["guardian_id"]], students[l["student_id"]]) for l in data["links"]) == [
        ("g1", "s1"), ("g2", "s2")]
    assert {g["external_id"]: g["phone"] for g in data["guardians"]} == {"g1": "+12125550100", "g2": "+12015550123"}
    assert [i for i in directory.invitations(slug) if i[1] == "added"] == []
    assert directory.diff(slug, night2).is_empty()


def test_a_child_the_sis_no_longer_gives_a_joined_parent_is_unlinked_from_her_account(directory):
    # Found by property 1. A mother who joined by hand (her account) was linked by the sync to a child
    # the SIS names her for (no guardian of her own in the SIS: her number matched). When the SIS stops
    # naming her for that child, the link must go. It did not: the removal was reported on every run and
    # never written, so she kept getting that child's class messages.
    slug = directory.district()
    with directory.service(slug) as svc:
        school = svc.add_school("Elsewhere")
        own = svc.enroll_student(school.id, "Kim", "Lee")
        mum, _ = svc.add_guardian(own.id, phone="201-555-0123", given_name="Mia", family_name="Lee")
        svc.mark_joined(mum.id)
    by_number = GuardianRecord(None, "Mia", "Lee", None, "(201) 555-0123", "cell", (GuardianLink("s2", "parent"),))
    cs, _ = directory.sync(slug, _roster([by_number]))
    assert cs.account_keys == {f"row:{mum.id}": mum.id}  # linked to her account, not a new guardian
    other = GuardianRecord("g9", "Bo", "Smith", "bo@example.org", links=(GuardianLink("s1", "parent"),))
    cs, _ = directory.sync(slug, _roster([other]))
    assert cs.pairs["guardian_links"].removed == {(f"row:{mum.id}", "s2")}
    data = directory.export(slug)
    students = {s["id"]: s["external_id"] for s in data["students"]}
    assert sorted(students[l["student_id"]] for l in data["links"] if l["guardian_id"] == mum.id) == [None]
    assert directory.diff(slug, _roster([other])).is_empty()


def test_a_guardian_linked_by_hand_to_a_child_the_sis_names_stays_when_another_child_leaves(directory):
    # Found by property 1, against a first version of the hand-made-link fix: the mother's link to Ana
    # was made by hand and stays hand-made, so when Ben's link went, she looked left with no child and was removed
    # although the roster names her, for Ana; the next night restored her.
    slug = directory.district()
    with directory.service(slug) as svc:
        school = svc.add_school("Lincoln Elementary", "100")
        ana = svc.enroll_student(school.id, "Ana", "Nguyen", "1001")
        mum, _ = svc.add_guardian(ana.id, email="mum@example.org")
    both = (GuardianLink("s1", "parent", "parent"), GuardianLink("s2", "parent", "parent"))
    directory.sync(slug, _roster([GuardianRecord("g1", "Mia", "Nguyen", "mum@example.org", links=both)]))
    night2 = _roster([GuardianRecord("g1", "Mia", "Nguyen", "mum@example.org", links=both[:1])])
    cs, _ = directory.sync(slug, night2)
    assert cs.kinds["guardians"].archives == [] and cs.pairs["guardian_links"].removed == {("g1", "s2")}
    data = directory.export(slug)
    assert [(g["id"], g["status"]) for g in data["guardians"]] == [(mum.id, "active")]
    assert [(l["guardian_id"], l["student_id"]) for l in data["links"]] == [(mum.id, ana.id)]
    assert directory.diff(slug, night2).is_empty()


def test_a_first_sync_copies_memberships_straight_and_a_later_one_leaves_a_hand_made_pair_as_it_is(directory,
                                                                                                  monkeypatch):
    # PostgreSQL COPYs a first sync's memberships straight into their tables (no pair can be there yet), and
    # later ones through ON CONFLICT DO NOTHING. A pair typed in by hand (a lock override) that the SIS then
    # names too must stay as it is, not fail the run on the primary key.
    import sqlalchemy as sa

    from sync import apply

    heard: list[tuple[str, int]] = []
    monkeypatch.setattr(apply, "DIRECT_COPY_MIN", 1)
    monkeypatch.setattr(apply, "COPY_LISTENERS", [lambda table, rows: heard.append((table, rows))])
    postgres = directory.engine.dialect.name == "postgresql"
    other = directory.district()
    directory.sync(other, _roster([]))  # another district's memberships do not make this one's first sync "later"
    slug = directory.district()
    roster = _roster([GuardianRecord("g1", "Mia", "Nguyen", "mum@example.org",
                                     links=(GuardianLink("s1", "mother", "parent"), GuardianLink("s2", "mother", "parent")))])
    roster.classrooms.append(ClassroomRecord("c2", "sch-a", "Room 8"))
    roster.enrollments.append(EnrollmentRecord("c2", "s1"))
    heard.clear()
    directory.sync(slug, roster)
    data = directory.export(slug)
    room = {c["name"]: c for c in data["classrooms"]}
    student = {s["given_name"]: s["id"] for s in data["students"]}
    assert room["Room 7"]["student_ids"] == [student["Ana"]] and room["Room 8"]["student_ids"] == [student["Ana"]]
    assert sorted((l["student_id"], l["relationship"]) for l in data["links"]) == [(student["Ana"], "mother"),
                                                                                (student["Ben"], "mother")]
    if postgres:
        assert ("enrollments", 2) in heard and ("guardian_links", 2) in heard
    with directory.engine.begin() as conn:  # Ben put in Room 8 by hand
        conn.execute(sa.text("INSERT INTO enrollments (classroom_id, student_id, source) VALUES (:c, :s, NULL)"),
                     {"c": room["Room 8"]["id"], "s": student["Ben"]})
    roster.enrollments.append(EnrollmentRecord("c2", "s2"))  # and the SIS says so too
    heard.clear()
    directory.sync(slug, roster)
    assert not [table for table, _ in heard if table == "enrollments"]  # checked for conflicts, not copied straight
    with directory.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT source FROM enrollments WHERE classroom_id = :c AND student_id = :s"),
                            {"c": room["Room 8"]["id"], "s": student["Ben"]}).all()
    assert rows == [(None,)]  # still the hand-made one, once
