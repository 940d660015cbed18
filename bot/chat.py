"""`engage chat`: talk to the running bot from a terminal, as a resident would text it."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests


def load_sender(path: Path, new: bool) -> str:
    """The terminal's resident id: kept in `path` so later chats are the same resident."""
    if path.exists() and not new:
        sender = path.read_text(encoding="utf-8").strip()
        if sender:
            return sender
    sender = f"terminal-{uuid.uuid4().hex[:12]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sender, encoding="utf-8")
    return sender


def wrap(text: str, first: str, indent: str, width: int) -> list[str]:
    """`text` after `first`, wrapped at spaces to `width`; URLs and long words stay whole."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(
            paragraph,
            width=width,
            initial_indent=first if not lines else indent,
            subsequent_indent=indent,
            break_long_words=False,  # a URL on a line of its own, unbroken
            break_on_hyphens=False,
        ) or [(first if not lines else indent).rstrip()]
    return lines


def render(messages: list[dict[str, Any]], width: int | None = None) -> list[str]:
    """Lines to print for the bot's messages, buttons numbered from 1.

    Lines are wrapped at word boundaries to `width` (default: the terminal's), under
    the text they continue. Typing a number is sent as typed: the gateway maps it to
    the button, as for SMS.
    """
    # A terminal that reports no width (some serial consoles, `script`) gets 80.
    width = width or shutil.get_terminal_size().columns or 80
    lines: list[str] = []
    for message in messages:
        if message.get("text"):
            lines += wrap(message["text"], "Bot: ", " " * 5, width)
        for number, button in enumerate(message.get("buttons") or [], start=1):
            lines += wrap(button.get("title", ""), f"     {number}  ", " " * 8, width)
    return lines


def chat(
    url: str,
    sender: str,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
    timeout: float = 60.0,
    token: str = "",
) -> int:
    """Run the chat loop until end of input or /quit; returns an exit code.

    `token`: REST_API_TOKEN, sent as a Bearer token when set (the gateway needs it once
    it is public).
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    write(f"Talking to {url} as {sender}. Type /quit to leave.")
    while True:
        try:
            typed = read("You: ")
        except (EOFError, KeyboardInterrupt):
            write("")
            return 0
        if typed.strip() in {"/quit", "/exit"}:
            return 0
        if not typed.strip():
            continue
        try:
            reply = requests.post(
                url, json={"sender": sender, "message": typed}, headers=headers, timeout=timeout
            )
        except requests.ConnectionError:
            write(f"The bot is not answering at {url}. Start it with `make run`, then try again.")
            return 1
        if reply.status_code == 503:
            write("(The assistant is busy; your message is kept and will be answered.)")
            continue
        if reply.status_code in (401, 404):
            write(
                "The bot's REST channel refused this chat: set REST_API_TOKEN (in .env) to "
                "the gateway's, then try again."
            )
            return 1
        if reply.status_code != 200:
            write(f"The bot said HTTP {reply.status_code}: {reply.text[:200]}")
            continue
        for line in render(reply.json()):
            write(line)


def main_chat(url: str, sender_file: Path, new: bool, token: str = "") -> int:
    """Entry point used by the CLI."""
    return chat(url, load_sender(sender_file, new), token=token)
