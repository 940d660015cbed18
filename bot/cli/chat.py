"""`engage chat`: talk to the running bot from a terminal."""

from __future__ import annotations

import argparse

from bot.settings import get_settings


def cmd_chat(args: argparse.Namespace) -> int:
    """Chat with the running bot."""
    from bot.chat import main_chat

    settings = get_settings()
    url = args.url or f"http://127.0.0.1:{settings.gateway_port}/webhooks/rest/webhook"
    return main_chat(
        url, settings.var_dir / "chat-sender", new=args.new, token=settings.rest_api_token
    )


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage chat`."""
    chat = commands.add_parser("chat", help="chat with the running bot from this terminal")
    chat.add_argument("--url", help="the REST webhook (default: the local gateway)")
    chat.add_argument("--new", action="store_true", help="talk as a new resident")
    chat.set_defaults(func=cmd_chat)
