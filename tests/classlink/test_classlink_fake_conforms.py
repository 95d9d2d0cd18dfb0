"""The local OneRoster server must not drift from the spec: every column the public OneRoster CSV samples
carry is a field of the server's JSON objects (under its REST name), for 1.1 and 1.2.

The REST binding names a reference after the object it points to (``orgSourcedIds`` -> ``orgs``,
``classSourcedId`` -> ``class``), and 1.2 moves a user's role and orgs into ``roles`` [{roleType, role,
org}] (roles.csv in the CSV binding). The samples are read from ../shared/samples (skipped without it).
"""

from __future__ import annotations

import csv

import pytest

from sync.sandbox.oneroster_json import to_oneroster_json

SAMPLES = {"1.1": "Test_full_data_set", "1.2": "oneroster_test_data"}
# 1.2 users.csv columns whose REST spelling we could not check, and that the connector does not read.
UNCHECKED = {"preferredGivenName", "preferredMiddleName", "preferredFamilyName", "pronouns"}


def rest_name(column: str) -> str:
    for suffix, plural in (("SourcedIds", "s"), ("SourcedId", "")):
        if column.endswith(suffix):
            return column[: -len(suffix)] + plural
    return column


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_every_sample_csv_column_is_a_field_of_the_fake_servers_json(version, samples_dir, district):
    folder = samples_dir / "moodle-enrol_oneroster" / SAMPLES[version]
    data = to_oneroster_json(district, version, root="http://127.0.0.1/")
    for kind, objects in data.items():
        path = folder / f"{kind}.csv"
        if not path.exists():
            path = samples_dir / "moodle-enrol_oneroster" / SAMPLES["1.2"] / f"{kind}.csv"  # 1.1 set has no courses
        with path.open(encoding="utf-8-sig", newline="") as fh:
            columns = {rest_name(c) for c in next(csv.reader(fh)) if c} - UNCHECKED
        missing = {kind: sorted(columns - set(obj)) for obj in objects[:1]}
        assert missing == {kind: []}
    if version == "1.2":
        with (folder / "roles.csv").open(encoding="utf-8-sig", newline="") as fh:
            role_columns = {rest_name(c) for c in next(csv.reader(fh))}
        assert {"roleType", "role", "org"} <= role_columns
        assert all({"roleType", "role", "org"} <= set(role) for u in data["users"] for role in u["roles"])
        assert "role" not in data["users"][0] and "orgs" not in data["users"][0]
