"""Channel test fixtures: the saved provider payloads, the fake providers, settings for both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings

PAYLOADS = Path(__file__).resolve().parent / "payloads"
AUTH_TOKEN = "test-auth-token-0123456789"
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
BOT_TOKEN = "123456:TEST-token"
FROM_NUMBER = "+447700900000"
PUBLIC_BASE_URL = "https://engage.example.org"  # what providers sign; we are on 127.0.0.1


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """A saved provider payload (a fresh copy), with top-level `changes` applied.

    A change to None removes the field.
    """
    data = json.loads((PAYLOADS / name).read_text())
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def channel_env(fake_base_url: str) -> dict[str, str]:
    """SMS and Telegram configured against the fake providers."""
    return {
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE_URL": fake_base_url,
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_API_BASE_URL": fake_base_url,
    }


@pytest.fixture
def channel_settings(fake, tmp_path) -> Settings:
    return Settings.from_env({"ENGAGE_VAR_DIR": str(tmp_path), **channel_env(fake.base_url)})
