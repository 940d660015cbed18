"""`engage run` says which channels are off and why, and where everything listens."""

from __future__ import annotations

from bot.runner import channels_off, rasa_command, running_banner
from bot.settings import PROJECT_ROOT, Settings

SMS = {
    "PUBLIC_BASE_URL": "https://engage.example.org",
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "t",
    "TWILIO_FROM_NUMBER": "+447700900000",
}
TELEGRAM = {"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": "s" * 20}


def test_nothing_configured_both_provider_channels_are_off():
    off = channels_off(Settings.from_env({}))
    assert len(off) == 2 and "TWILIO_AUTH_TOKEN" in off[0] and "TELEGRAM_BOT_TOKEN" in off[1]


def test_configured_channels_are_on():
    assert channels_off(Settings.from_env({**SMS, **TELEGRAM})) == []


def test_rasa_has_only_the_private_inbox_channel():
    settings = Settings.from_env({})
    command = rasa_command(settings, PROJECT_ROOT / "models" / "m.tar.gz")
    credentials = command[command.index("--credentials") + 1]
    text = (PROJECT_ROOT / "credentials.yml").read_text()
    assert credentials == str(PROJECT_ROOT / "credentials.yml")
    assert "channels.inbox.InboxInput:" in text and "Twilio" not in text.split("\n", 4)[-1]
    assert command[command.index("--port") + 1] == "5006"


def test_the_banner_gives_the_webhook_urls_and_what_is_off():
    settings = Settings.from_env(SMS)
    banner = running_banner(settings, "http://127.0.0.1:5005", channels_off(settings))
    assert "https://engage.example.org/webhooks/sms/webhook" in banner
    assert "POST http://127.0.0.1:5005/webhooks/rest/webhook" in banner
    assert "Not started:         Telegram" in banner
