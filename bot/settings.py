"""Every setting the project reads, from environment variables, in one place."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Longest values that keep every message within two SMS (tests/test_domain.py checks).
MAX_ORG_NAME = 30
MAX_PRIVACY_URL = 40
MAX_PHONE = 20  # a phone number in a signposting reply
MAX_SIGNPOST = 40  # a link or short service name in a signposting reply
MAX_CONTACT = 60  # the council's own safeguarding route


class SettingsError(ValueError):
    """A setting has a value we cannot use."""


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if not lo <= value <= hi:
        raise SettingsError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if not 0 < value < 65536:
        raise SettingsError(f"{name} must be a port number, got {value}")
    return value


def _short_text(env: Mapping[str, str], name: str, default: str, max_chars: int) -> str:
    """A short, SMS-safe text setting: it is part of messages sized for two SMS."""
    from bot.sms import is_gsm7

    value = env.get(name, "").strip() or default
    if len(value) > max_chars or not is_gsm7(value):
        raise SettingsError(
            f"{name} must be at most {max_chars} plain characters (GSM-7), got {value!r}"
        )
    return value


def _optional_text(env: Mapping[str, str], name: str, max_chars: int) -> str:
    """A short, SMS-safe text that may be left unset."""
    return _short_text(env, name, "", max_chars) if env.get(name, "").strip() else ""


def _report_urls(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """REPORT_URL (any theme) and REPORT_URL_<THEME KEY> (one theme), for fault reports."""
    from bot.themes import theme_keys

    found = []
    for key in ("", *theme_keys()):
        name = f"REPORT_URL_{key.upper()}" if key else "REPORT_URL"
        value = _optional_text(env, name, MAX_SIGNPOST)
        if value:
            found.append((key, value))
    return tuple(found)


def _base_url(env: Mapping[str, str], name: str) -> str:
    """An http(s) origin (and optional path) without a trailing slash, or empty."""
    value = env.get(name, "").strip().rstrip("/")
    if value and not value.startswith(("https://", "http://")):
        raise SettingsError(f"{name} must start with https:// (or http:// locally), got {value!r}")
    return value


def _base_urls(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """One origin or several, separated by commas (each as `_base_url` checks it)."""
    values = [v.strip() for v in env.get(name, "").split(",") if v.strip()]
    return tuple(_base_url({name: value}, name) for value in values)


def _redis_url(env: Mapping[str, str]) -> str:
    """REDIS_URL: redis://[:password@]host[:port][/db], or rediss:// for TLS; or empty."""
    value = env.get("REDIS_URL", "").strip()
    if value and not re.fullmatch(r"rediss?://[^/\s]+(/\d+)?/?", value):
        raise SettingsError(
            "REDIS_URL must look like redis://host:6379/0 (rediss:// for TLS), got a value "
            "that does not"
        )
    return value


def _key_prefix(env: Mapping[str, str]) -> str:
    """REDIS_KEY_PREFIX: letters and digits (Rasa's lock store ignores any other prefix)."""
    value = env.get("REDIS_KEY_PREFIX", "").strip() or "engage"
    if not re.fullmatch(r"[A-Za-z0-9]{1,40}", value):
        raise SettingsError(f"REDIS_KEY_PREFIX must be 1-40 letters and digits, got {value!r}")
    return value


def _webhook_secret(env: Mapping[str, str]) -> str:
    """Telegram allows 1-256 characters A-Z, a-z, 0-9, _ and - in a webhook secret."""
    value = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
    if value and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value):
        raise SettingsError(
            "TELEGRAM_WEBHOOK_SECRET must be 16-256 characters of A-Z, a-z, 0-9, _ and -"
        )
    return value


def _timezone(env: Mapping[str, str]) -> str:
    """The organisation's time zone (for quiet hours), e.g. Europe/London."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = env.get("TIMEZONE", "").strip() or "Europe/London"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(
            f"TIMEZONE must be a time zone like Europe/London, got {value!r}"
        ) from exc
    return value


def _quiet_hours(env: Mapping[str, str]) -> str:
    """ "HH:MM-HH:MM" (may cross midnight) or "off"."""
    value = env.get("QUIET_HOURS", "").strip().lower() or "21:00-08:00"
    if value != "off" and not re.fullmatch(
        r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value
    ):
        raise SettingsError(f"QUIET_HOURS must look like 21:00-08:00, or be off; got {value!r}")
    return value


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class Settings:
    """The project's settings; build with `Settings.from_env()`."""

    org_name: str
    privacy_url: str
    database_url: str
    tracker_database_url: str
    theme_confidence_threshold: float
    rasa_host: str
    rasa_port: int
    action_port: int
    gateway_host: str
    gateway_port: int
    rasa_api_token: str
    model_dir: Path
    encoder_dir: Path
    var_dir: Path
    public_base_url: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = ""
    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base_url: str = ""
    timezone: str = "Europe/London"
    quiet_hours: str = "21:00-08:00"
    checkin_jitter_minutes: int = 240
    sms_per_second: float = 1.0
    telegram_per_second: float = 25.0
    telegram_per_chat_per_second: float = 1.0
    console_host: str = "127.0.0.1"
    console_port: int = 8000
    console_secret_key: str = ""
    action_timeout_s: float = 10.0
    rasa_url: str = ""  # where our workers reach Rasa's private inbox channel
    # Signposting (UK defaults; a council elsewhere changes them) and the council's own route.
    emergency_number: str = "999"
    samaritans_number: str = "116 123"
    nhs_mental_health: str = "NHS 111, option 2"
    police_non_emergency: str = "101"
    police_report_url: str = "police.uk"
    abuse_helpline: str = "0808 2000 247"
    safeguarding_contact: str = ""
    safeguarding_notify_email: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_starttls: bool = False
    console_url: str = ""  # how officers reach the console (for the duty inbox's email)
    export_pseudonym_key: str = ""  # keyed pseudonyms in exports; kept outside the database
    export_min_count: int = 8  # counts from 1 to this minus one are never published
    rest_api_token: str = ""  # Bearer token for the REST channel (needed once public)
    message_validity_hours: float = 48.0  # an update or check-in older than this is not sent
    data_request_contact: str = ""  # where a resident asks for a full copy of their data
    do_not_contact_key: str = ""  # keys the hashes of erased residents' addresses
    view_text_retention_months: int = 24
    conversation_retention_months: int = 12
    unconsented_retention_days: int = 7
    operational_retention_days: int = 90
    # Where residents report a fault (a pothole, a missed bin), by theme key; "" for any.
    report_urls: tuple[tuple[str, str], ...] = ()
    # Scale-out: several servers share Redis (Rasa's lock store and the send rate limits)
    # and can reach several Rasa servers; empty/one on a single machine.
    redis_url: str = ""
    redis_key_prefix: str = "engage"
    rasa_urls: tuple[str, ...] = ()  # every Rasa server our workers may use; rasa_url first
    # Where the scheduler and the notifier serve /healthz and /metrics (the other processes
    # serve them on their own ports).
    metrics_host: str = "127.0.0.1"
    scheduler_port: int = 5007
    notifier_port: int = 5008
    # `engage demo` listens on each of our ports plus this, beside a running `engage run`.
    demo_port_offset: int = 100

    def report_url(self, theme_key: str | None) -> str:
        """The council's reporting link for a theme's faults, or the general one, or ""."""
        urls = dict(self.report_urls)
        return urls.get(theme_key or "", "") or urls.get("", "")

    @property
    def sms_sending_enabled(self) -> bool:
        """True when Twilio can be sent to (inbound SMS also needs PUBLIC_BASE_URL)."""
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_from_number or self.twilio_messaging_service_sid)
        )

    @property
    def sms_enabled(self) -> bool:
        """True when Twilio is fully configured."""
        return bool(self.public_base_url and self.sms_sending_enabled)

    @property
    def telegram_enabled(self) -> bool:
        """True when Telegram is fully configured."""
        return bool(self.telegram_bot_token and self.telegram_webhook_secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from `env` (default: the process environment)."""
        env = os.environ if env is None else env
        var_dir = _path(env.get("ENGAGE_VAR_DIR", "var"))
        database_url = env.get("DATABASE_URL", "").strip() or _sqlite_url(var_dir / "engage.db")
        rasa_port = _int(env, "RASA_PORT", 5006)
        rasa_urls = _base_urls(env, "RASA_URL") or (f"http://127.0.0.1:{rasa_port}",)
        tracker_url = env.get("TRACKER_DATABASE_URL", "").strip()
        if not tracker_url:
            # SQLite allows one writer at a time: the tracker gets its own file so Rasa
            # and the action server never wait on each other. Servers share one database.
            tracker_url = (
                _sqlite_url(var_dir / "tracker.db")
                if database_url.startswith("sqlite")
                else database_url
            )
        return cls(
            org_name=_short_text(env, "ORG_NAME", "Leeds Listens", MAX_ORG_NAME),
            privacy_url=_short_text(
                env, "PRIVACY_URL", "https://example.org/privacy", MAX_PRIVACY_URL
            ),
            database_url=database_url,
            tracker_database_url=tracker_url,
            theme_confidence_threshold=_float(env, "THEME_CONFIDENCE_THRESHOLD", 0.5, 0.0, 1.0),
            rasa_host=env.get("RASA_HOST", "").strip() or "127.0.0.1",
            rasa_port=rasa_port,
            action_port=_int(env, "ACTION_PORT", 5055),
            gateway_host=env.get("GATEWAY_HOST", "").strip() or "127.0.0.1",
            gateway_port=_int(env, "GATEWAY_PORT", 5005),
            rasa_api_token=env.get("RASA_API_TOKEN", "").strip(),
            model_dir=_path(env.get("MODEL_DIR", "models")),
            encoder_dir=_path(env.get("ENCODER_DIR", "var/encoder/all-MiniLM-L6-v2")),
            var_dir=var_dir,
            public_base_url=_base_url(env, "PUBLIC_BASE_URL"),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", "").strip(),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", "").strip(),
            twilio_from_number=env.get("TWILIO_FROM_NUMBER", "").strip(),
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID", "").strip(),
            twilio_api_base_url=_base_url(env, "TWILIO_API_BASE_URL"),
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
            telegram_webhook_secret=_webhook_secret(env),
            telegram_api_base_url=_base_url(env, "TELEGRAM_API_BASE_URL"),
            timezone=_timezone(env),
            quiet_hours=_quiet_hours(env),
            checkin_jitter_minutes=int(_float(env, "CHECKIN_JITTER_MINUTES", 240, 0, 1440)),
            sms_per_second=_float(env, "SMS_PER_SECOND", 1.0, 0.01, 10000),
            telegram_per_second=_float(env, "TELEGRAM_PER_SECOND", 25.0, 0.01, 1000),
            telegram_per_chat_per_second=_float(env, "TELEGRAM_PER_CHAT_PER_SECOND", 1.0, 0.01, 30),
            console_host=env.get("CONSOLE_HOST", "").strip() or "127.0.0.1",
            console_port=_int(env, "CONSOLE_PORT", 8000),
            console_secret_key=env.get("CONSOLE_SECRET_KEY", "").strip(),
            action_timeout_s=_float(env, "ACTION_TIMEOUT_S", 10.0, 1.0, 300.0),
            rasa_url=rasa_urls[0],
            rasa_urls=rasa_urls,
            redis_url=_redis_url(env),
            redis_key_prefix=_key_prefix(env),
            metrics_host=env.get("METRICS_HOST", "").strip() or "127.0.0.1",
            scheduler_port=_int(env, "SCHEDULER_PORT", 5007),
            notifier_port=_int(env, "NOTIFIER_PORT", 5008),
            emergency_number=_short_text(env, "EMERGENCY_NUMBER", "999", MAX_PHONE),
            samaritans_number=_short_text(env, "SAMARITANS_NUMBER", "116 123", MAX_PHONE),
            nhs_mental_health=_short_text(
                env, "NHS_MENTAL_HEALTH", "NHS 111, option 2", MAX_SIGNPOST
            ),
            police_non_emergency=_short_text(env, "POLICE_NON_EMERGENCY", "101", MAX_PHONE),
            police_report_url=_short_text(env, "POLICE_REPORT_URL", "police.uk", MAX_SIGNPOST),
            abuse_helpline=_short_text(env, "ABUSE_HELPLINE", "0808 2000 247", MAX_PHONE),
            safeguarding_contact=_optional_text(env, "SAFEGUARDING_CONTACT", MAX_CONTACT),
            safeguarding_notify_email=env.get("SAFEGUARDING_NOTIFY_EMAIL", "").strip(),
            smtp_host=env.get("SMTP_HOST", "").strip(),
            smtp_port=_int(env, "SMTP_PORT", 25),
            smtp_user=env.get("SMTP_USER", "").strip(),
            smtp_password=env.get("SMTP_PASSWORD", ""),
            smtp_from=env.get("SMTP_FROM", "").strip(),
            smtp_starttls=env.get("SMTP_STARTTLS", "").strip().lower() in ("1", "true", "yes"),
            console_url=_base_url(env, "CONSOLE_URL"),
            report_urls=_report_urls(env),
            export_pseudonym_key=env.get("EXPORT_PSEUDONYM_KEY", "").strip(),
            export_min_count=int(_float(env, "EXPORT_MIN_COUNT", 8, 2, 1000)),
            rest_api_token=env.get("REST_API_TOKEN", "").strip(),
            message_validity_hours=_float(env, "MESSAGE_VALIDITY_HOURS", 48.0, 1.0, 24 * 14),
            data_request_contact=_optional_text(env, "DATA_REQUEST_CONTACT", MAX_CONTACT),
            do_not_contact_key=env.get("DO_NOT_CONTACT_KEY", "").strip(),
            view_text_retention_months=int(_float(env, "VIEW_TEXT_RETENTION_MONTHS", 24, 1, 600)),
            conversation_retention_months=int(
                _float(env, "CONVERSATION_RETENTION_MONTHS", 12, 1, 600)
            ),
            unconsented_retention_days=int(_float(env, "UNCONSENTED_RETENTION_DAYS", 7, 1, 3650)),
            operational_retention_days=int(_float(env, "OPERATIONAL_RETENTION_DAYS", 90, 1, 3650)),
            demo_port_offset=int(_float(env, "DEMO_PORT_OFFSET", 100, 0, 60000)),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings.from_env()
