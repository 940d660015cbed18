"""`engage telegram set-webhook|delete-webhook`: the Telegram bot's set-up."""

from __future__ import annotations

import argparse
import sys

from bot.settings import get_settings


def cmd_telegram_webhook(args: argparse.Namespace) -> int:
    """Register (or remove) our webhook with Telegram."""
    import asyncio

    from channels.telegram import ALLOWED_UPDATES, make_bot, webhook_url

    settings = get_settings()
    if not settings.telegram_bot_token:
        print("Set TELEGRAM_BOT_TOKEN first (from @BotFather).", file=sys.stderr)
        return 2

    async def _call() -> bool:
        async with make_bot(settings) as bot:
            if args.action == "delete":
                return await bot.delete_webhook()
            return await bot.set_webhook(
                url=webhook_url(settings),
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )

    if args.action == "set" and not (
        settings.public_base_url.startswith("https://") and settings.telegram_webhook_secret
    ):
        print(
            "Set PUBLIC_BASE_URL (https://...) and TELEGRAM_WEBHOOK_SECRET first.", file=sys.stderr
        )
        return 2
    from telegram.error import TelegramError

    try:
        ok = asyncio.run(_call())
    except TelegramError as exc:
        print(f"Telegram refused: {exc}", file=sys.stderr)
        return 1
    if args.action == "set":
        print(f"Telegram will post updates to {webhook_url(settings)}" if ok else "Not set.")
    else:
        print("Webhook removed." if ok else "Not removed.")
    return 0 if ok else 1


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage telegram set-webhook|delete-webhook`."""
    telegram = commands.add_parser("telegram", help="Telegram bot set-up").add_subparsers(
        dest="telegram", required=True
    )
    telegram.add_parser(
        "set-webhook", help="point Telegram at PUBLIC_BASE_URL/webhooks/telegram/webhook"
    ).set_defaults(func=cmd_telegram_webhook, action="set")
    telegram.add_parser("delete-webhook", help="stop Telegram posting to us").set_defaults(
        func=cmd_telegram_webhook, action="delete"
    )
