"""`engage residents`: answer a resident's access or erasure request from a terminal.

The same service functions as the console's Residents' requests page and the
conversation; every action is in the audit log.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bot.cli.common import ask, user_path

CONFIRM_WORD = "ERASE"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `residents find|export|erase` to the `engage` parser."""
    residents = commands.add_parser("residents", help="residents' access and erasure requests")
    actions = residents.add_subparsers(dest="action", required=True)
    find = actions.add_parser("find", help="a resident's id and summary, by number or chat id")
    where = find.add_mutually_exclusive_group(required=True)
    where.add_argument("--phone", help="their phone number (any common UK spelling)")
    where.add_argument("--telegram-id", help="their Telegram chat id")
    find.set_defaults(func=cmd_find)
    export = actions.add_parser("export", help="everything we hold on a resident, as JSON")
    export.add_argument("id", type=int, help="the resident's id (from `residents find`)")
    export.add_argument("-o", "--output", required=True, help="the JSON file to write")
    export.set_defaults(func=cmd_export)
    erase = actions.add_parser("erase", help="erase everything we hold on a resident")
    erase.add_argument("id", type=int, help="the resident's id (from `residents find`)")
    erase.add_argument("--yes", action="store_true", help="do not ask to confirm")
    erase.set_defaults(func=cmd_erase)


def _address(args: argparse.Namespace) -> tuple[str, str] | None:
    from bot.phone import InvalidNumber, to_e164

    if args.phone is not None:
        try:
            return "sms", to_e164(args.phone)
        except InvalidNumber:
            return None
    chat_id = args.telegram_id.strip()
    return ("telegram", chat_id) if chat_id.lstrip("-").isdigit() else None


def cmd_find(args: argparse.Namespace) -> int:
    """Print the resident's id and a one-line summary."""
    from bot.db import default_database
    from bot.services import audit
    from bot.services.identities import resident_at
    from bot.services.rights import summary

    address = _address(args)
    if address is None:
        print("Not found: that is not a phone number or a chat id.", file=sys.stderr)
        return 2
    with default_database().transaction() as session:
        resident = resident_at(session, *address)
        found = summary(session, resident.id) if resident else None
        audit.record(
            session, actor=audit.cli_actor(), action="resident.find",
            target=f"resident:{found.resident_id}" if found else None,
            detail={"channel": address[0], "found": found is not None},
        )  # fmt: skip
    if found is None:
        print(f"No resident at that {'number' if address[0] == 'sms' else 'chat id'}.")
        return 1
    print(found.line())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write everything held on the resident to a JSON file (all or nothing)."""
    from bot.db import default_database
    from bot.services import audit
    from bot.services.rights import subject_access, subject_access_json
    from bot.settings import get_settings
    from bot.tracker_store import tracker_database

    path = user_path(args.output)
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        print(f"Not exported: cannot write to {path}.", file=sys.stderr)
        return 2
    database = default_database()
    settings = get_settings()
    tracker = tracker_database(settings.tracker_database_url, database)
    with database.transaction() as session, tracker.engine.connect() as connection:
        copy = subject_access(session, connection, args.id)
        if copy is None:
            print(f"Not exported: no resident {args.id}.", file=sys.stderr)
            return 1
        handle, temporary = tempfile.mkstemp(prefix=".resident-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(subject_access_json(copy))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        audit.record(
            session, actor=audit.cli_actor(), action="resident.export",
            target=f"resident:{args.id}", detail={"turns": len(copy["conversation"])},
        )  # fmt: skip
    print(f"Wrote everything held on resident {args.id} to {path}.")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase the resident everywhere, after typing ERASE (or with --yes)."""
    from bot.db import default_database
    from bot.erasure import Eraser
    from bot.services import audit
    from bot.services.rights import summary
    from bot.settings import get_settings

    database = default_database()
    with database.transaction() as session:
        found = summary(session, args.id)
    if found is None:
        print(f"Not erased: no resident {args.id}.", file=sys.stderr)
        return 1
    if not args.yes:
        print(found.line())
        answer = ask(f"Type {CONFIRM_WORD} to erase everything held on this resident: ")
        if answer.strip() != CONFIRM_WORD:
            print("Not erased.")
            return 1
    erased = Eraser.for_settings(get_settings(), database).erase(args.id, audit.cli_actor())
    if erased is None:
        print(f"Not erased: no resident {args.id}.", file=sys.stderr)
        return 1
    rows = sum(erased.rows.values())
    print(
        f"Erased resident {args.id}: {rows} rows, {erased.tracker_events} conversation events; "
        f"{erased.blocked_addresses} address(es) on the do-not-contact list."
    )
    return 0
