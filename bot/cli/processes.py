"""`engage run|serve|demo|gateway|scheduler|notifier`: the long-running processes."""

from __future__ import annotations

import argparse
import contextlib
import sys

from bot.settings import get_settings

RUN_DESCRIPTION = (
    "Migrate the database, then start six processes: the webhook gateway (SMS, Telegram, "
    "the REST channel and the inbox worker), the Rasa server, the action server, the "
    "check-in scheduler, the notifier that sends updates, and the officer console. "
    "Ctrl-C stops them all."
)

DEMO_DESCRIPTION = (
    "Start everything as `engage run` does, on its own database and ports (ENGAGE_VAR_DIR/demo, "
    "wiped and seeded with a synthetic council at each start), with a local stand-in for "
    "Twilio and Telegram that prints each message instead of sending it. `engage demo text` "
    "writes to the running demo as a resident would by SMS."
)


def _log_to_stderr() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def cmd_run(args: argparse.Namespace) -> int:
    """Start the gateway, Rasa, the action server, scheduler, notifier and console."""
    from bot.runner import run

    return run(get_settings())


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one of `engage run`'s processes in the foreground (systemd, a Procfile)."""
    from bot.runner import serve

    return serve(args.process, get_settings())


def _residents(text: str) -> int:
    from bot.demo.council import MAX_RESIDENTS

    value = int(text)
    if not 1 <= value <= MAX_RESIDENTS:
        raise argparse.ArgumentTypeError(f"from 1 to {MAX_RESIDENTS}")
    return value


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo, or text the running demo as a resident."""
    from bot.demo.run import run_demo, text_as_resident

    if args.demo_action == "text":
        return text_as_resident(get_settings(), " ".join(args.message), args.sender)
    return run_demo(get_settings(), residents=args.residents)


def cmd_gateway(args: argparse.Namespace) -> int:
    """Serve the webhooks and process the inbox."""
    from bot.gateway import serve

    _log_to_stderr()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        serve(get_settings())
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Run the check-in scheduler (one pass with --once)."""
    import asyncio
    from dataclasses import replace
    from datetime import datetime, timezone

    from bot.db import default_database
    from bot.keys import RASA_API_TOKEN_FILE, kept_secret
    from bot.outbound import Outbound, senders_for
    from bot.rasa_pool import rasa_for
    from bot.scheduler import PassReport, run_once, serve_forever

    settings = get_settings()
    if not settings.rasa_api_token:  # beside `make run`: the token it made in var/
        token = kept_secret(settings.var_dir, RASA_API_TOKEN_FILE)
        settings = replace(settings, rasa_api_token=token)
    if not settings.rasa_api_token:
        print(
            "Set RASA_API_TOKEN (the token of Rasa's inbox channel) first,"
            " or start `make run` once (it makes one in ENGAGE_VAR_DIR).",
            file=sys.stderr,
        )
        return 2
    try:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(timezone.utc)
    except ValueError:
        print(f"--now must be ISO-8601, like 2026-12-01T10:00:00+00:00; got {args.now!r}")
        return 2
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    _log_to_stderr()
    database = default_database()
    if not args.once:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
            asyncio.run(serve_forever(database, settings))
        return 0
    rasa = rasa_for(settings)
    outbound = Outbound(database, settings, senders_for(settings))

    async def _one_pass() -> PassReport:
        try:
            return await run_once(database, settings, now, rasa, outbound)
        finally:
            await rasa.close()
            await outbound.close()

    report = asyncio.run(_one_pass())
    if report.quiet:
        print("Quiet hours: nothing sent.")
    else:
        print(
            f"{report.due} due, {report.sent} sent, {report.failed} failed, "
            f"{report.skipped} already claimed."
        )
    return 1 if report.failed else 0


def cmd_notifier(args: argparse.Namespace) -> int:
    """Send queued updates to residents (drain once and exit with --once)."""
    import asyncio
    from datetime import timedelta

    from bot.db import default_database
    from bot.notifier import IN_FLIGHT, Notifier, serve_forever
    from bot.outbound import senders_for

    settings = get_settings()
    _log_to_stderr()
    # channels/common.py keeps the providers' loggers quiet
    senders = senders_for(settings, telegram_connections=IN_FLIGHT)
    if not senders:
        print("No channel is configured (Twilio or Telegram): updates stay queued.")
    notifier = Notifier(default_database(), settings, senders, lease=timedelta(seconds=args.lease))
    if not args.once:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
            asyncio.run(serve_forever(notifier))
        return 0
    report = asyncio.run(notifier.drain())
    if report.quiet:
        print("Quiet hours: nothing sent; updates wait until they end.")
    else:
        print(
            f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed"
            + (f", {report.reconciled} found already sent" if report.reconciled else "")
            + "."
        )
    return 0


def add_run(commands: argparse._SubParsersAction) -> None:
    """Add `engage run`."""
    commands.add_parser(
        "run",
        help="start everything: webhooks, Rasa, actions, workers and the console",
        description=RUN_DESCRIPTION,
    ).set_defaults(func=cmd_run)


def add_gateway(commands: argparse._SubParsersAction) -> None:
    """Add `engage gateway`."""
    commands.add_parser(
        "gateway", help="serve the webhooks and hand the inbox to Rasa (make run starts it)"
    ).set_defaults(func=cmd_gateway)


def add_serve(commands: argparse._SubParsersAction) -> None:
    """Add `engage serve PROCESS`."""
    from bot.runner import PROCESSES

    serve = commands.add_parser(
        "serve",
        help="run one process of `engage run` in the foreground (deploy/: systemd, Procfile)",
    )
    serve.add_argument("process", choices=PROCESSES)
    serve.set_defaults(func=cmd_serve)


def add_demo(commands: argparse._SubParsersAction) -> None:
    """Add `engage demo` and `engage demo text`."""
    demo = commands.add_parser(
        "demo",
        help="try it all locally: a synthetic council, SMS and Telegram printed, not sent",
        description=DEMO_DESCRIPTION,
    )
    demo.add_argument(
        "--residents", type=_residents, default=300, help="how many to seed (default 300)"
    )
    demo.set_defaults(func=cmd_demo, demo_action=None)
    demo_actions = demo.add_subparsers(dest="demo_action")
    demo_text = demo_actions.add_parser("text", help="send the running demo an SMS as a resident")
    demo_text.add_argument("message", nargs="+", help="what the resident writes")
    demo_text.add_argument(
        "--from", dest="sender", default="+447700900001", help="their number (+447700900001)"
    )


def add_scheduler(commands: argparse._SubParsersAction) -> None:
    """Add `engage scheduler`."""
    scheduler = commands.add_parser("scheduler", help="start check-ins when residents are due")
    scheduler.add_argument("--once", action="store_true", help="run one pass and exit")
    scheduler.add_argument("--now", help="pretend the clock says this time (ISO-8601)")
    scheduler.set_defaults(func=cmd_scheduler)


def add_notifier(commands: argparse._SubParsersAction) -> None:
    """Add `engage notifier`."""
    notifier = commands.add_parser("notifier", help="send queued updates to residents")
    notifier.add_argument("--once", action="store_true", help="send what is due, then exit")
    notifier.add_argument(
        "--lease",
        type=float,
        default=60.0,
        help="seconds after which a send claimed by a stopped worker is taken over (60)",
    )
    notifier.set_defaults(func=cmd_notifier)
