"""`engage telegram set-webhook` / `delete-webhook`, against the fake Bot API."""

from __future__ import annotations

import json

import pytest

from bot import cli, settings
from tests.channels.conftest import WEBHOOK_SECRET


@pytest.fixture
def env(fake, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://engage.example.org")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-token")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.base_url)
    settings.get_settings.cache_clear()
    yield
    settings.get_settings.cache_clear()


def test_set_webhook_registers_url_secret_and_update_types(env, fake, capsys):
    assert cli.main(["telegram", "set-webhook"]) == 0
    [call] = [c for c in fake.calls if c.method == "setWebhook"]
    assert call.params["url"] == "https://engage.example.org/webhooks/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert json.loads(call.params["allowed_updates"]) == ["message", "callback_query"]
    assert "webhooks/telegram/webhook" in capsys.readouterr().out


def test_delete_webhook(env, fake):
    assert cli.main(["telegram", "delete-webhook"]) == 0
    assert [c.method for c in fake.calls if "Webhook" in c.method] == ["deleteWebhook"]


def test_set_webhook_needs_a_public_https_url(env, fake, monkeypatch, capsys):
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://localhost:5005")
    settings.get_settings.cache_clear()
    assert cli.main(["telegram", "set-webhook"]) == 2
    assert "PUBLIC_BASE_URL" in capsys.readouterr().err
    assert fake.calls == []
