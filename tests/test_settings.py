import pytest

from directory.errors import ConfigError
from directory.settings import SETTINGS, parse_setting


@pytest.mark.parametrize("key,value,expected", [
    ("default_channel", "SMS", ("default_channel", "sms")),
    ("auto-invite", "off", ("auto_invite", False)),
    ("archive_threshold_pct", "25", ("archive_threshold_pct", 25)),
    ("excluded_contact_types", "Emergency, family,emergency", ("excluded_contact_types", ["emergency", "family"])),
    ("max_guardians_per_student", "4", ("max_guardians_per_student", 4)),
    ("phone_region", "gb", ("phone_region", "GB")),
])
def test_settings_parse(key, value, expected):
    assert parse_setting(key, value) == expected


@pytest.mark.parametrize("key,value,message", [
    ("default_channel", "pigeon", "email or sms"),
    ("auto_invite", "maybe", "on or off"),
    ("archive_threshold_pct", "-1", "0 to 100"),
    ("archive_threshold_pct", "ten", "not a valid value"),
    ("max_guardians_per_student", "0", "at least 1"),
    ("nonsense", "1", "known settings: "),
])
def test_bad_settings_are_config_errors(key, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_setting(key, value)


def test_every_setting_has_a_meaning_and_a_column():
    from directory.models import District

    for key, s in SETTINGS.items():
        assert s.meaning and hasattr(District, s.column), key
