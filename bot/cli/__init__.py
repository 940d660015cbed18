"""The `engage` command line."""

from __future__ import annotations

import argparse
import os
import sys

from bot.cli import (
    chat,
    checkins,
    db,
    exports,
    processes,
    residents,
    retention,
    telegram,
    themes,
    topics,
    updates,
    users,
)
from bot.cli.common import Cancelled, remember_where_invoked, user_path
from bot.settings import PROJECT_ROOT, SettingsError

__all__ = ["build_parser", "main", "user_path"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `engage`: each command group adds its own commands."""
    parser = argparse.ArgumentParser(prog="engage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (
        processes.add_run,
        processes.add_gateway,
        processes.add_serve,
        processes.add_demo,
        chat.add_commands,
        db.add_commands,
        themes.add_commands,
        processes.add_scheduler,
        checkins.add_commands,
        topics.add_commands,
        updates.add_commands,
        processes.add_notifier,
        exports.add_commands,
        users.add_commands,
        residents.add_commands,
        retention.add_commands,
        telegram.add_commands,
    ):  # the order `engage --help` lists them in
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `engage` command."""
    remember_where_invoked()
    os.chdir(PROJECT_ROOT)  # Rasa resolves config and data paths from here
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"Setting error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling: no traceback
        return 130
    except Cancelled:  # Ctrl-D at a question (a password, "type ERASE"): nothing was done
        print("\nCancelled: nothing was typed.", file=sys.stderr)
        return 1
