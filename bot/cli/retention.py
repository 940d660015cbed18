"""`engage retention run`: delete or empty what is older than its retention period."""

from __future__ import annotations

import argparse

from bot.settings import get_settings


def cmd_retention(args: argparse.Namespace) -> int:
    """Apply the retention rules now (audited); print one line per rule."""
    from datetime import datetime, timezone

    from bot.db import default_database
    from bot.retention import run_retention
    from bot.services.audit import cli_actor
    from bot.tracker_store import tracker_database

    settings = get_settings()
    database = default_database()
    tracker = tracker_database(settings.tracker_database_url, database)
    try:
        report = run_retention(database, tracker, settings, datetime.now(timezone.utc), cli_actor())
    finally:
        tracker.dispose()
    for line in report.lines():
        print(line)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage retention run`."""
    retention = commands.add_parser(
        "retention", help="delete or empty what is older than its retention period"
    ).add_subparsers(dest="retention", required=True)
    retention.add_parser(
        "run", help="apply every retention rule now (the scheduler does it daily)"
    ).set_defaults(func=cmd_retention)
