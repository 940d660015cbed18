"""Channel test fixtures: the fake providers and settings pointing at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.settings import Settings
from tests.fakes.providers import FakeProviders

AUTH_TOKEN = "test-auth-token-0123456789"
WEBHOOK_SECRET = "test-webhook-secret-0123456789"


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    providers = FakeProviders().start()
    yield providers
    providers.stop()


@pytest.fixture
def channel_settings(fake, tmp_path) -> Settings:
    return Settings.from_env(
        {
            "ENGAGE_VAR_DIR": str(tmp_path),
            "PUBLIC_BASE_URL": "https://engage.example.org",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": "+447700900000",
            "TWILIO_API_BASE_URL": fake.base_url,
            "TELEGRAM_BOT_TOKEN": "123456:TEST-token",
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TELEGRAM_API_BASE_URL": fake.base_url,
        }
    )
