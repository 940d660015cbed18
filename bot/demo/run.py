"""`engage demo`: the stack of `engage run` on its own database and ports, with a synthetic
council, a demo sign-in, and the fake Twilio and Telegram printing each message instead of
sending it to a phone.

The demo never touches the real database: everything it writes is under
ENGAGE_VAR_DIR/demo (its own SQLite database, Rasa tracker store, console key), which is
wiped and seeded afresh each time it starts.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

from bot.demo.council import Council
from bot.fake_providers import Recorded
from bot.phone import mask
from bot.settings import Settings

DEMO_DIR = "demo"  # under ENGAGE_VAR_DIR
SIGN_IN_EMAIL = "demo@council.example"
SIGN_IN_NAME = "Demo Officer"
DEMO_FROM_NUMBER = "+447700900000"  # the council's number, in Ofcom's drama range
DEMO_RESIDENT = "+447700900001"  # who `engage demo text` writes as by default
DEMO_TWILIO_AUTH_TOKEN = "demo-twilio-auth-token"  # noqa: S105 - signs only local demo requests
DEMO_SMS_PER_SECOND = "10"  # a published update scrolls by in seconds, not minutes
# Every port setting of ours (and the Settings field behind it): the demo moves each by
# DEMO_PORT_OFFSET, so it runs beside `engage run`.
PORTS = {
    "GATEWAY_PORT": "gateway_port",
    "RASA_PORT": "rasa_port",
    "ACTION_PORT": "action_port",
    "CONSOLE_PORT": "console_port",
    "SCHEDULER_PORT": "scheduler_port",
    "NOTIFIER_PORT": "notifier_port",
}


def demo_dir(settings: Settings) -> Path:
    """Where the demo keeps everything it writes."""
    return settings.var_dir / DEMO_DIR


def demo_ports(settings: Settings) -> dict[str, int]:
    """The demo's port for each port setting: the real one plus DEMO_PORT_OFFSET."""
    return {
        name: getattr(settings, field) + settings.demo_port_offset
        for name, field in PORTS.items()
        if hasattr(settings, field)
    }


def demo_environment(settings: Settings, fake_base_url: str) -> dict[str, str]:
    """The settings the demo's processes run with, as environment variables.

    `settings` are the real ones (for ENGAGE_VAR_DIR and the ports); the result replaces
    every setting that could reach the real database, a real provider, a real inbox, a
    shared Redis, or the real servers' ports.
    """
    folder = demo_dir(settings)
    ports = demo_ports(settings)
    return {
        **{name: str(port) for name, port in ports.items()},
        "ENGAGE_VAR_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'engage.db'}",
        "TRACKER_DATABASE_URL": f"sqlite:///{folder / 'tracker.db'}",
        "REDIS_URL": "",  # one machine: locks in memory, rate limits in the demo database
        "GATEWAY_HOST": "127.0.0.1",
        "RASA_HOST": "127.0.0.1",
        "RASA_URL": f"http://127.0.0.1:{ports['RASA_PORT']}",
        "CONSOLE_HOST": "127.0.0.1",
        "CONSOLE_URL": f"http://127.0.0.1:{ports['CONSOLE_PORT']}",
        "METRICS_HOST": "127.0.0.1",
        "CONSOLE_SECRET_KEY": "",  # made in the demo's own folder
        "DO_NOT_CONTACT_KEY": "",
        "EXPORT_PSEUDONYM_KEY": "demo-only-pseudonym-key",  # synthetic data: exports work
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['GATEWAY_PORT']}",
        "TWILIO_ACCOUNT_SID": "AC" + "d" * 32,
        "TWILIO_AUTH_TOKEN": DEMO_TWILIO_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": DEMO_FROM_NUMBER,
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "TWILIO_API_BASE_URL": fake_base_url,
        "TELEGRAM_BOT_TOKEN": "100000:demo-bot-token",
        "TELEGRAM_WEBHOOK_SECRET": "demo-webhook-secret-0123456789",
        "TELEGRAM_API_BASE_URL": fake_base_url,
        "QUIET_HOURS": "off",  # a demo at 10 pm still shows its messages
        "SMS_PER_SECOND": DEMO_SMS_PER_SECOND,
        "SAFEGUARDING_NOTIFY_EMAIL": "",  # never email a real duty inbox
        "SMTP_HOST": "",
    }


def demo_settings(settings: Settings, fake_base_url: str = "") -> Settings:
    """The demo's settings, as its processes will read them."""
    return Settings.from_env({**os.environ, **demo_environment(settings, fake_base_url)})


def port_taken(settings: Settings) -> str | None:
    """Why the demo cannot start on its ports (one is taken, or out of range), or None."""
    from bot.runner import port_in_use

    ports = demo_ports(settings)
    for name, port in ports.items():
        if port > 65535:
            return f"{name} + DEMO_PORT_OFFSET is {port}, not a port: lower DEMO_PORT_OFFSET."
    for name, port in ports.items():
        if port_in_use("127.0.0.1", port):
            return (
                f"Port {port} (the demo's {name}) is in use: is a demo already running? "
                "Stop it first, or set DEMO_PORT_OFFSET (default 100) to move the demo's ports."
            )
    return None


@dataclass(frozen=True)
class Prepared:
    """A fresh demo database: its sign-in and what was seeded."""

    email: str
    password: str
    council: Council


def reset(folder: Path) -> None:
    """Delete the demo's databases (and SQLite's side files), nothing else."""
    for name in ("engage.db", "tracker.db"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)


def prepare(demo: Settings, residents: int = 300) -> Prepared:
    """Wipe the demo database, migrate it, create the demo sign-in and seed the council."""
    from bot.db import Database
    from bot.demo.council import seed_council
    from bot.migrate import upgrade
    from bot.models import Role
    from bot.services.users import create_user

    folder = demo.var_dir
    if folder.name != DEMO_DIR or demo.database_url != f"sqlite:///{folder / 'engage.db'}":
        raise ValueError(f"not the demo's database: {demo.database_url}")
    folder.mkdir(parents=True, exist_ok=True)
    reset(folder)
    upgrade(demo.database_url)
    database = Database(demo.database_url)
    password = "demo-" + secrets.token_urlsafe(9)
    try:
        with database.transaction() as session:
            create_user(session, email=SIGN_IN_EMAIL, name=SIGN_IN_NAME, role=Role.ADMIN,
                        password=password, actor="demo")  # fmt: skip
        council = seed_council(database, officer=SIGN_IN_EMAIL, residents=residents)
    finally:
        database.dispose()
    return Prepared(SIGN_IN_EMAIL, password, council)


# What would have gone to a phone ------------------------------------------------------


def _buttons(markup: Any) -> list[str]:
    """The labels of a Telegram inline keyboard (a dict, or JSON as sent in a form)."""
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            return []
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or []
    return [str(b.get("text", "")) for row in rows for b in row if isinstance(b, dict)]


def phone_line(recorded: Recorded, clock: Callable[[], str] | None = None) -> str | None:
    """One line for a message the fake took (SMS or Telegram), number masked; else None."""
    params = recorded.params
    if not recorded.accepted:
        return None
    if recorded.provider == "twilio" and recorded.method == "Messages.create":
        who, text = f"SMS      to {mask(str(params.get('To', '')))}", str(params.get("Body", ""))
    elif recorded.provider == "telegram" and recorded.method == "sendMessage":
        who, text = f"Telegram to {mask(str(params.get('chat_id', '')))}", str(params.get("text"))
        text += "".join(f" [{label}]" for label in _buttons(params.get("reply_markup")))
    else:
        return None
    flat = " / ".join(part.strip() for part in text.splitlines() if part.strip())
    at = clock() if clock else time.strftime("%H:%M:%S")
    return f"{at} {who}: {flat}"


class PhonePrinter:
    """A listener for the fake providers: prints each message that would reach a phone."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def __call__(self, recorded: Recorded) -> None:
        """Print one line (from the fake's thread), whatever the terminal's encoding."""
        line = phone_line(recorded)
        if line is None:
            return
        encoding = getattr(self.out, "encoding", None) or "utf-8"
        self.out.write(line.encode(encoding, "replace").decode(encoding) + "\n")
        self.out.flush()


def ready_banner(demo: Settings, prepared: Prepared) -> str:
    """What the demo adds below `engage run`'s banner."""
    data = ("\n" + " " * 23).join(textwrap.wrap(prepared.council.summary(), width=66))
    return "\n".join(
        [
            "The demo is running: its own database, no real phone is ever messaged.",
            f"  Data:                {data}",
            f"  Database:            {demo.database_url} (wiped and seeded at each start)",
            f"  Officer console:     http://127.0.0.1:{demo.console_port}",
            f"  Demo sign-in:        {prepared.email}",
            f"  Password:            {prepared.password}   (new at each start)",
            "  Try it:              sign in, New update (pick a theme and a district), save,",
            "                       publish: each message that would have gone to a phone is",
            "                       printed below, one line each.",
            '  Write as a resident: .venv/bin/engage demo text "the bins on my road were missed"',
            f"                       (an SMS from {mask(DEMO_RESIDENT)}: the replies print below)",
            "  (`make chat` talks to `make run`, not to the demo.)",
            "",
            "Messages to phones:",
        ]
    )


def run_demo(settings: Settings, residents: int = 300) -> int:
    """Seed a fresh demo database and run the stack against the fake providers until Ctrl-C."""
    from bot import settings as settings_module
    from bot.fake_providers import FakeProviders
    from bot.runner import latest_model, run

    taken = port_taken(settings)
    if taken:
        print(taken)
        return 1
    if latest_model(settings.model_dir) is None:
        print(f"No trained model in {settings.model_dir}. Run `make demo` (it trains one).")
        return 1
    fake = FakeProviders().start()
    try:
        # Our own processes (and the seeding) read their settings from the environment.
        os.environ.update(demo_environment(settings, fake.base_url))
        settings_module.get_settings.cache_clear()
        demo = Settings.from_env()
        print(f"Seeding the demo database in {demo.var_dir} ...", flush=True)
        prepared = prepare(demo, residents)
        fake.listeners.append(PhonePrinter())
        return run(
            demo,
            on_ready=lambda: print(ready_banner(demo, prepared), flush=True),
            terminal_chat=False,
        )
    finally:
        fake.stop()


def text_as_resident(settings: Settings, message: str, number: str = DEMO_RESIDENT) -> int:
    """Send one SMS to the running demo, signed as Twilio would; the reply prints there."""
    import requests
    from twilio.request_validator import RequestValidator

    from bot.phone import InvalidNumber, to_e164

    try:
        sender = to_e164(number)
    except InvalidNumber:
        print(f"{number!r} is not a phone number.", file=sys.stderr)
        return 2
    demo = demo_settings(settings)
    path = "/webhooks/sms/webhook"
    sid = f"SM{uuid.uuid4().hex}"
    fields = {"MessageSid": sid, "SmsSid": sid, "AccountSid": demo.twilio_account_sid,
              "From": sender, "To": DEMO_FROM_NUMBER, "Body": message, "NumMedia": "0",
              "NumSegments": "1", "ApiVersion": "2010-04-01"}  # fmt: skip
    signature = RequestValidator(demo.twilio_auth_token).compute_signature(
        demo.public_base_url + path, fields
    )
    try:
        answer = requests.post(
            f"http://127.0.0.1:{demo.gateway_port}{path}",
            data=urlencode(fields),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
            timeout=10,
        )
    except requests.RequestException:
        print("The demo is not running: start it with `make demo`.", file=sys.stderr)
        return 1
    if answer.status_code != 200:
        print(f"The demo refused the message ({answer.status_code}).", file=sys.stderr)
        return 1
    print(f"Sent as {mask(sender)}; the reply appears in the demo's terminal.")
    return 0
