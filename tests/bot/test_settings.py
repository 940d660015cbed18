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


def test_one_machine_needs_no_redis_and_reaches_its_own_rasa():
    s = Settings.from_env({})
    assert (s.redis_url, s.redis_key_prefix) == ("", "engage")
    assert s.rasa_urls == ("http://127.0.0.1:5006",)
    assert (s.metrics_host, s.scheduler_port, s.notifier_port) == ("127.0.0.1", 5007, 5008)


def test_several_servers_share_redis_and_may_list_every_rasa():
    s = Settings.from_env(
        {
            "REDIS_URL": "rediss://:secret@redis.internal:6380/1",
            "REDIS_KEY_PREFIX": "leeds",
            "RASA_URL": "http://192.0.2.11:5006/, http://192.0.2.12:5006",
        }
    )
    assert s.redis_url == "rediss://:secret@redis.internal:6380/1" and s.redis_key_prefix == "leeds"
    assert s.rasa_urls == ("http://192.0.2.11:5006", "http://192.0.2.12:5006")
    assert s.rasa_url == "http://192.0.2.11:5006"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL must look like redis://"),
        ({"REDIS_URL": "http://:secret@redis/0"}, "REDIS_URL must look like redis://"),
        ({"REDIS_KEY_PREFIX": "engage:prod"}, "REDIS_KEY_PREFIX must be 1-40 letters"),
        ({"RASA_URL": "http://a:5006,192.0.2.12:5006"}, "RASA_URL must start with https://"),
        ({"NOTIFIER_PORT": "0"}, "NOTIFIER_PORT must be a port number"),
    ],
)
def test_bad_scale_out_settings_are_refused_without_echoing_a_password(env, message):
    with pytest.raises(SettingsError, match=message) as refused:
        Settings.from_env(env)
    assert "secret" not in str(refused.value)
