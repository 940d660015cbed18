"""`engage run` starts only the channels whose settings are set, and says which it left out."""

from __future__ import annotations

from bot.runner import active_credentials, running_banner
from bot.settings import PROJECT_ROOT, Settings

TEMPLATE = (PROJECT_ROOT / "credentials.yml").read_text()
SMS = {
    "PUBLIC_BASE_URL": "https://engage.example.org",
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "t",
    "TWILIO_FROM_NUMBER": "+447700900000",
}
TELEGRAM = {"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": "s" * 20}


def test_no_credentials_only_rest():
    credentials, skipped = active_credentials(Settings.from_env({}), TEMPLATE)
    assert "channels.rest.RestChannel:" in credentials
    assert "twilio" not in credentials and "TelegramInput" not in credentials
    assert len(skipped) == 2 and "TWILIO_AUTH_TOKEN" in skipped[0]


def test_configured_channels_keep_their_env_placeholders():
    credentials, skipped = active_credentials(Settings.from_env({**SMS, **TELEGRAM}), TEMPLATE)
    assert skipped == []
    assert "auth_token: ${TWILIO_AUTH_TOKEN}" in credentials
    assert "webhook_secret: ${TELEGRAM_WEBHOOK_SECRET}" in credentials


def test_the_banner_gives_the_webhook_urls_and_what_is_off():
    settings = Settings.from_env(SMS)
    _, skipped = active_credentials(settings, TEMPLATE)
    banner = running_banner(settings, "http://127.0.0.1:5005", skipped)
    assert "https://engage.example.org/webhooks/sms/webhook" in banner
    assert "Not started:         Telegram" in banner
