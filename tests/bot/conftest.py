"""Fixtures for the core's tests: settings that send to the fake providers, the CLI on the
test database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot import db
from bot.settings import Settings, get_settings


@pytest.fixture
def channel_settings(settings, fake) -> Settings:
    """Settings with SMS and Telegram sending to the fake, fast enough not to wait."""
    return replace(
        settings,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        twilio_from_number="+447700900999",
        twilio_api_base_url=fake.base_url,
        telegram_bot_token="123:abc",
        telegram_api_base_url=fake.base_url,
        sms_per_second=200.0,
        telegram_per_second=200.0,
        telegram_per_chat_per_second=30.0,
    )


@pytest.fixture
def cli_database(database, monkeypatch):
    """The test database, as the CLI (`bot.cli.main`) finds it: DATABASE_URL and the default."""
    monkeypatch.setenv("DATABASE_URL", database.url)
    get_settings.cache_clear()
    monkeypatch.setattr(db, "_default", database)
    yield database
    get_settings.cache_clear()
