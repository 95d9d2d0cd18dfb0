"""The pure rules of a drop, on plain values: names, manifest, completeness, stability, fingerprint."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.sftp.drops import (
    Entry,
    HostKeyRejected,
    Ignored,
    IncompleteDrop,
    changed_files,
    classify,
    drop_fingerprint,
    manifest_required_files,
    missing_files,
    name_problem,
)


@pytest.mark.parametrize("name", ["users.csv", "academicSessions.csv", "Students 2024.csv", "élèves.csv"])
def test_plain_names_are_accepted(name):
    assert name_problem(name) is None


@pytest.mark.parametrize("name, reason", [
    ("../users.csv", "path separator"),
    ("..users.csv", ".."),
    ("/etc/passwd.csv", "path separator"),
    ("sub/users.csv", "path separator"),
    ("sub\\users.csv", "path separator"),
    ("..", ".."),
    (".users.csv", "hidden"),
    ("users\x00.csv", "control"),
    ("users\n.csv", "control"),
    ("users\u202e.csv", "control"),  # right-to-left override, used to disguise extensions
    ("users\udcff.csv", "UTF-8"),
    ("", "empty"),
    ("a" * 300 + ".csv", "too long"),
])
def test_unsafe_names_are_refused_with_a_reason(name, reason):
    assert reason in name_problem(name)


@given(st.text(min_size=1, max_size=40))
def test_an_accepted_name_always_stays_inside_the_folder(name):
    if name_problem(name) is None:
        folder = Path("/srv/drop")
        assert (folder / name).parent == folder
        assert len((folder / name).parts) == len(folder.parts) + 1


def test_classify_keeps_plain_csv_files_and_reports_the_rest():
    entries = [
        Entry("users.csv", 10, 1.0),
        Entry("orgs.CSV", 10, 1.0),
        Entry("readme.txt", 10, 1.0),
        Entry("archive.csv", 0, 1.0, is_file=False),
        Entry("../x.csv", 1, 1.0),
        Entry("Users.csv", 10, 1.0),
    ]
    accepted, ignored = classify(entries)
    # names are taken in sorted order, so of two names differing only in case the first one wins
    assert set(accepted) == {"orgs.CSV", "Users.csv"}
    reasons = {item.name: item.reason for item in ignored}
    assert reasons["readme.txt"] == "not a CSV file"
    assert reasons["archive.csv"] == "not a regular file"
    assert "separator" in reasons["../x.csv"]
    assert reasons["users.csv"] == "same name as 'Users.csv' apart from letter case"


def test_manifest_names_bulk_and_delta_files_only():
    text = ("propertyName,value\nmanifest.version,1.0\nfile.users,bulk\nfile.orgs, Delta \n"
            "file.courses,absent\nfile.userProfiles,\nsource.systemName,SIS\n")
    required = manifest_required_files(text)
    assert set(required) == {"users.csv", "orgs.csv"}
    assert required["orgs.csv"] == "listed in manifest.csv as delta"


def test_missing_files_names_each_missing_file_and_why():
    present = ["manifest.csv", "Users.csv"]
    problems = missing_files(present, {"users.csv": "listed in manifest.csv as bulk",
                                       "orgs.csv": "listed in manifest.csv as bulk",
                                       "manifest.csv": "required for this format"})
    assert problems == ("orgs.csv (listed in manifest.csv as bulk)",
                        "users.csv (listed in manifest.csv as bulk; found 'Users.csv', but names are case-sensitive)")


def test_a_stable_folder_has_no_changes():
    before = {"a.csv": Entry("a.csv", 5, 100.0)}
    assert changed_files(before, dict(before), {"a.csv": 5}) == {}


@pytest.mark.parametrize("after, downloaded, expected", [
    ({"a.csv": Entry("a.csv", 5, 100.0)}, {"a.csv": 7}, "listed as 5 bytes, downloaded 7"),
    ({"a.csv": Entry("a.csv", 9, 101.0)}, {"a.csv": 5}, "changed while being copied"),
    ({"a.csv": Entry("a.csv", 5, 101.0)}, {"a.csv": 5}, "changed while being copied"),
    ({}, {"a.csv": 5}, "disappeared"),
])
def test_a_file_that_moves_during_the_copy_is_reported(after, downloaded, expected):
    before = {"a.csv": Entry("a.csv", 5, 100.0)}
    assert expected in changed_files(before, after, downloaded)["a.csv"]


def test_a_file_that_appears_during_the_copy_is_reported():
    before = {"a.csv": Entry("a.csv", 5, 100.0)}
    after = {**before, "b.csv": Entry("b.csv", 1, 100.0)}
    assert "appeared" in changed_files(before, after, {"a.csv": 5})["b.csv"]


def test_fingerprint_depends_on_names_and_contents_not_on_order():
    a, b = "0" * 64, "f" * 64
    fp = drop_fingerprint({"users.csv": a, "orgs.csv": b})
    assert fp == drop_fingerprint({"orgs.csv": b, "users.csv": a})
    assert fp != drop_fingerprint({"users.csv": b, "orgs.csv": a})  # contents swapped between files
    assert fp != drop_fingerprint({"users2.csv": a, "orgs.csv": b})  # a file renamed
    assert fp != drop_fingerprint({"users.csv": a})  # a file left out
    assert len(fp) == 64 and int(fp, 16) >= 0


def test_errors_survive_being_sent_from_a_worker_process():
    err = IncompleteDrop("sftp://roster@sftp.example:22 folder 'out'", "missing users.csv",
                         missing=("users.csv",), ignored=(Ignored("x.txt", "not a CSV file"),))
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is IncompleteDrop and str(back) == str(err) and back.missing == ("users.csv",)
    assert back.retry_later
    rejected = pickle.loads(pickle.dumps(HostKeyRejected("src", "mismatch", ("SHA256:a",), "SHA256:b")))
    assert (rejected.expected, rejected.presented, rejected.retry_later) == (("SHA256:a",), "SHA256:b", False)
