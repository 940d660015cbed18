"""Secret keys that may come from settings or, unset, are made once and kept in var/."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

RASA_API_TOKEN_FILE = "rasa_api_token"  # noqa: S105 - a file name, not the token


def local_secret(value: str, var_dir: Path, name: str) -> str:
    """`value` if set, else a random key made once in `var_dir/name` (mode 0600)."""
    if value:
        return value
    path = var_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_size:  # read as it is: an unreadable key is an error, not no key
            return path.read_text(encoding="utf-8").strip()
        # Empty (cut off between making and writing it): made again, still owner-only.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


def kept_secret(var_dir: Path, name: str) -> str:
    """The key made once in `var_dir/name`, or "" if there is none we can read (a caller
    that would only borrow it, such as `engage scheduler --once`, then says what to set)."""
    try:
        return (var_dir / name).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, PermissionError):
        return ""
