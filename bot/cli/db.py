"""`engage db`: database tasks."""

from __future__ import annotations

import argparse

from bot.settings import get_settings


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Create or migrate the database."""
    from bot.migrate import upgrade

    upgrade(get_settings().database_url)
    print("Database is up to date.")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage db upgrade`."""
    db = commands.add_parser("db", help="database tasks").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="create or migrate the database").set_defaults(
        func=cmd_db_upgrade
    )
