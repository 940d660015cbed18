"""Fixtures for the core's tests: the fake providers and settings that send to them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from bot.settings import Settings
from tests.fakes.providers import FakeProviders


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    """A fake Twilio and Telegram on 127.0.0.1 for one test."""
    providers = FakeProviders().start()
    yield providers
    providers.stop()


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
