"""Which manual functions a synced school locks, on plain values."""

import pytest

from directory.lock import GUARDIAN_FUNCTIONS, OPEN_FUNCTIONS, ROSTER_FUNCTIONS, lock_reason


@pytest.mark.parametrize("function", sorted(ROSTER_FUNCTIONS | GUARDIAN_FUNCTIONS))
def test_synced_school_locks_roster_and_guardian_functions(function):
    reason = lock_reason(function, "Banneker High", "classlink", sync_manages_guardians=True)
    assert reason.startswith(f"{function} is locked: school 'Banneker High' is synced from ClassLink")
    assert "student information system" in reason and "support" in reason


@pytest.mark.parametrize("function", sorted(OPEN_FUNCTIONS))
def test_messaging_and_search_stay_open(function):
    assert lock_reason(function, "Banneker High", "clever", True) is None


@pytest.mark.parametrize("function", sorted(GUARDIAN_FUNCTIONS))
def test_guardian_functions_open_when_the_sync_does_not_manage_guardians(function):
    assert lock_reason(function, "Banneker High", "clever", sync_manages_guardians=False) is None


@pytest.mark.parametrize("function", sorted(ROSTER_FUNCTIONS | GUARDIAN_FUNCTIONS))
def test_hand_made_school_is_never_locked(function):
    assert lock_reason(function, "Adams", None, True) is None


@pytest.mark.parametrize("source,name", [("oneroster-csv", "OneRoster CSV files (SFTP)"),
                                         ("clever-csv", "Clever CSV files (SFTP)"), ("clever", "Clever")])
def test_the_error_names_the_source(source, name):
    assert f"synced from {name}." in lock_reason("edit student", "X", source, True)


def test_unknown_function_is_a_programming_error():
    with pytest.raises(ValueError):
        lock_reason("delete everything", "X", "clever", True)
