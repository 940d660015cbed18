"""What the `engage` commands share: paths as the user typed them, dates and questions."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

_invoked_from = Path.cwd()


def remember_where_invoked() -> None:
    """Note the directory `engage` was run from, before it moves to the project."""
    global _invoked_from
    _invoked_from = Path.cwd()


def user_path(text: str) -> Path:
    """A path the user typed, relative to where they ran `engage` (it moves to the project)."""
    return _invoked_from / Path(text).expanduser()


def parse_date(text: str | None) -> datetime | None:
    """A day or time typed on the command line (UTC unless it says); raises ValueError."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Cancelled(Exception):
    """The person ended a question with Ctrl-D (end of input): nothing was done."""


def ask(prompt: str, secret: bool = False) -> str:
    """The line typed after `prompt` (not shown if `secret`); Cancelled at end of input."""
    import getpass

    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError:
        raise Cancelled from None
