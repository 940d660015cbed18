"""Settings: defaults a newcomer can rely on, and clear errors for bad values."""

from __future__ import annotations

import pytest

from bot.settings import PROJECT_ROOT, Settings, SettingsError


def test_defaults_need_no_environment():
    s = Settings.from_env({})
    assert s.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'engage.db'}"
    assert s.tracker_database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'tracker.db'}"
    assert (s.rasa_host, s.rasa_port, s.action_port) == ("127.0.0.1", 5006, 5055)
    assert (s.gateway_host, s.gateway_port) == ("127.0.0.1", 5005)
    assert s.rasa_url == "http://127.0.0.1:5006" and s.action_timeout_s == 10.0
    assert s.theme_confidence_threshold == 0.5
    assert s.rasa_api_token == ""


def test_postgres_shares_the_database_with_the_tracker_store():
    s = Settings.from_env({"DATABASE_URL": "postgresql://u@db/engage"})
    assert s.tracker_database_url == "postgresql://u@db/engage"
    s = Settings.from_env(
        {"DATABASE_URL": "postgresql://u@db/engage", "TRACKER_DATABASE_URL": "sqlite:///t.db"}
    )
    assert s.tracker_database_url == "sqlite:///t.db"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RASA_PORT": "http"}, "RASA_PORT must be a whole number"),
        ({"ACTION_PORT": "70000"}, "ACTION_PORT must be a port number"),
        ({"THEME_CONFIDENCE_THRESHOLD": "1.5"}, "between 0.0 and 1.0"),
        ({"ORG_NAME": "x" * 31}, "ORG_NAME must be at most 30"),
        ({"ORG_NAME": "Caf\u00e9 \u2019Listens\u2019"}, "GSM-7"),
        ({"PRIVACY_URL": "https://example.org/" + "p" * 40}, "PRIVACY_URL"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
