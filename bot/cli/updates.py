"""`engage updates preview|publish`: a "you said, we did" update from a terminal."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import ask, parse_date


def cmd_updates(args: argparse.Namespace) -> int:
    """Preview or publish a "you said, we did" update from a terminal.

    The preview writes nothing; publishing writes the draft and publishes it in one
    transaction, as the console does, with the same audit events.
    """
    from bot.db import default_database
    from bot.services.audit import cli_actor
    from bot.services.updates import (
        InvalidUpdate,
        NobodyToTell,
        UpdateDraft,
        draft_recorded,
        preview_draft,
        publish_recorded,
        someone_to_tell,
        update_message,
    )
    from bot.sms import segments

    try:
        since = parse_date(args.since)
    except ValueError:
        print("--since must look like 2026-11-01.", file=sys.stderr)
        return 2
    draft = UpdateDraft(
        title=args.title,
        you_said=args.you_said,
        we_did=args.we_did,
        themes=args.theme,
        areas=args.area,
        since=since,
        coming=args.coming,
    )
    message = update_message(draft.you_said, draft.we_did, coming=draft.coming)
    encoding, count = segments(message)
    print(f"Residents will read ({len(message)} characters, {count} SMS, {encoding}):")
    print(f"  {message}")
    database = default_database()
    try:
        with database.transaction() as session:
            counts = preview_draft(session, draft)
        by_channel = ", ".join(f"{n} by {c}" for c, n in counts.items() if c != "total")
        print(f"Recipients: {counts['total']}" + (f" ({by_channel})" if by_channel else ""))
        if args.action == "preview":
            return 0
        reached = someone_to_tell(counts)
        question = f"Publish to {reached} residents? [y/N] "
        if not args.yes and ask(question).strip().lower() not in ("y", "yes"):
            print("Not published.")
            return 1
        with database.transaction() as session:
            update = draft_recorded(session, draft, actor=cli_actor())
            queued = publish_recorded(session, update.id, actor=cli_actor()) or 0
            number = update.id
    except NobodyToTell:
        print("Nobody to tell: nothing published.")
        return 1
    except InvalidUpdate as exc:
        print(f"Not published: {exc}.", file=sys.stderr)
        return 2
    print(f"Published update {number}: {queued} messages queued for the notifier.")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage updates preview|publish`."""
    updates = commands.add_parser("updates", help='"you said, we did" updates')
    update_actions = updates.add_subparsers(dest="action", required=True)
    for name, text in (
        ("preview", "show the message and how many residents it would reach"),
        ("publish", "queue it for every resident concerned"),
    ):
        action = update_actions.add_parser(name, help=text)
        action.add_argument("--title", required=True)
        action.add_argument("--you-said", required=True, help="what residents told us")
        action.add_argument("--we-did", required=True, help="what changed because of it")
        action.add_argument("--theme", action="append", default=[], help="a theme key (repeat)")
        action.add_argument("--area", action="append", default=[], help="a district (repeat)")
        action.add_argument("--since", help="only views from this date (YYYY-MM-DD)")
        action.add_argument(
            "--coming", action="store_true", help="the change is still to happen: ask nothing"
        )
        action.add_argument("--yes", action="store_true", help="publish without asking")
    updates.set_defaults(func=cmd_updates)
