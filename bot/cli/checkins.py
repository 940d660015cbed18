"""`engage checkins add|list|end`: officers' check-in questions, as the console sets them."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bot.cli.common import parse_date
from bot.settings import Settings, get_settings

if TYPE_CHECKING:
    from bot.db import Database


def _add(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    from bot.models import utcnow
    from bot.services.audit import cli_actor
    from bot.services.checkins import InvalidQuestion, QuestionDraft
    from bot.services.checkins_questions import (
        add_question_recorded,
        preview_message,
        reach_of_question,
    )

    try:
        starts, ends = parse_date(args.starts) or utcnow(), parse_date(args.ends)
    except ValueError:
        print("Dates must look like 2026-12-01 or 2026-12-01T09:00.", file=sys.stderr)
        return 2
    try:
        with database.transaction() as session:
            draft = QuestionDraft(
                wording=args.wording,
                kind=args.kind,
                ask_why=args.ask_why,
                themes=args.theme,
                areas=args.area,
                starts_at=starts,
                ends_at=ends,
            )
            question = add_question_recorded(session, draft, actor=cli_actor())
            number, wording = question.id, question.wording
            reached = reach_of_question(session, question)
    except InvalidQuestion as exc:
        print(f"Not added: {exc}.", file=sys.stderr)
        return 2
    preview = preview_message(wording, settings.org_name)
    print(
        f"Question {number} added. Residents will read ({preview.characters} characters, "
        f"{preview.sms} SMS, {preview.encoding}):\n  {preview.text}\n"
        f"It would be put to {reached} resident{'' if reached == 1 else 's'} as things are now."
    )
    return 0


def _end(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    from bot.services.audit import cli_actor
    from bot.services.checkins import InvalidQuestion
    from bot.services.checkins_questions import UnknownQuestion, end_question

    try:
        with database.transaction() as session:
            end_question(session, args.id, actor=cli_actor())
    except UnknownQuestion:
        print(f"No question {args.id}.", file=sys.stderr)
        return 2
    except InvalidQuestion as exc:
        print(f"Not ended: {exc}.", file=sys.stderr)
        return 2
    print(f"Question {args.id} ended.")
    return 0


def _list(args: argparse.Namespace, settings: Settings, database: Database) -> int:
    from bot.services.checkins_questions import list_questions

    with database.transaction() as session:
        questions = list_questions(session)
    if not questions:
        print("No check-in questions yet.")
    for q in questions:
        window = (
            f"{q.starts_at:%Y-%m-%d} to {q.ends_at:%Y-%m-%d}"
            if q.ends_at
            else f"from {q.starts_at:%Y-%m-%d}"
        )
        target = ", ".join(q.themes + q.areas) or "everyone"
        why = " + why" if q.ask_why else ""
        answers = f"{q.answers} answer{'' if q.answers == 1 else 's'}"
        if q.mean is not None:
            answers += f", mean {q.mean:.1f}"
        print(
            f"{q.id:4d}  {q.status:8s}{q.kind}{why:7s} {window:26s} {target:30s} "
            f"{answers:22s} {q.wording}"
        )
    return 0


def cmd_checkins(args: argparse.Namespace) -> int:
    """Officers' check-in questions: add (with a preview), list, end (as the console does)."""
    from bot.db import default_database

    settings = get_settings()
    database = default_database()
    return {"add": _add, "end": _end, "list": _list}[args.action](args, settings, database)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage checkins add|list|end`."""
    checkins = commands.add_parser("checkins", help="officers' check-in questions")
    actions = checkins.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="set a question (printed as residents will read it)")
    add.add_argument("wording", help="the question; for a scale, say what 1 and 5 mean")
    add.add_argument("--kind", choices=["open", "scale"], default="open")
    add.add_argument("--ask-why", action="store_true", help="after a rating, ask why")
    add.add_argument(
        "--theme", action="append", default=[], help="only residents who spoke about it"
    )
    add.add_argument("--area", action="append", default=[], help="only residents in a district")
    add.add_argument("--starts", help="YYYY-MM-DD (default: now)")
    add.add_argument("--ends", help="YYYY-MM-DD (default: no end)")
    actions.add_parser("list", help="every question and its window")
    end = actions.add_parser("end", help="stop asking a question")
    end.add_argument("id", type=int)
    checkins.set_defaults(func=cmd_checkins)
