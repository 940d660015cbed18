"""`engage export KIND` and `engage report`: data for analysts, pseudonymised and redacted."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

from bot.cli.common import parse_date, user_path
from bot.settings import get_settings

if TYPE_CHECKING:
    from bot.exports import ExportFilter

Row = TypeVar("Row")


def _filters(args: argparse.Namespace) -> ExportFilter:
    """The export filter from `--from/--to/--theme/...` (ExportError, one line, if bad)."""
    from datetime import timedelta

    from bot.exports import ExportError, ExportFilter

    try:
        since, last = parse_date(args.date_from), parse_date(args.date_to)
    except ValueError:
        raise ExportError("dates look like 2026-11-01") from None
    return ExportFilter.checked(
        since=since,
        until=last + timedelta(days=1) if last else None,  # the last day is included
        themes=args.theme, areas=args.area, channel=args.channel,
        question_id=args.question, update_id=args.update,
    )  # fmt: skip


def _progress(rows: Iterable[Row]) -> Iterable[Row]:
    """A progress bar on a terminal (tqdm, on stderr); nothing when output is piped."""
    from tqdm import tqdm

    return tqdm(rows, unit=" rows", disable=not sys.stderr.isatty(), leave=False)


def cmd_export(args: argparse.Namespace) -> int:
    """Export data for analysts: pseudonymised, redacted, suppressed, audited."""
    from bot.db import default_database
    from bot.exports import (
        KINDS,
        ExportError,
        ExportRequest,
        export,
        format_of,
        parse_by,
    )
    from bot.pseudonyms import NoPseudonymKey
    from bot.services.audit import cli_actor
    from bot.tracker_store import tracker_database

    path = user_path(args.output)
    settings = get_settings()
    try:
        wanted = _filters(args)
        fmt = format_of(path, args.format, KINDS[args.kind].formats)
        by = parse_by(args.by) if args.kind == "counts" else ()
        request = ExportRequest(args.kind, fmt, wanted, by or ("theme", "month"))
        with default_database().transaction() as session:
            count = export(
                session, request, path, key=settings.export_pseudonym_key, actor=cli_actor(),
                tracker=tracker_database(settings.tracker_database_url, default_database()),
                minimum=settings.export_min_count, progress=_progress,
            )  # fmt: skip
    except (ExportError, NoPseudonymKey) as exc:
        print(f"Not exported: {exc}.", file=sys.stderr)
        return 2
    noun = {"views": "view", "reactions": "reaction", "conversations": "turn"}.get(args.kind, "row")
    print(f"Exported {count} {noun}{'' if count == 1 else 's'} to {path} ({fmt}).")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the engagement report: one self-contained HTML file, suppressed, audited."""
    from bot.db import default_database
    from bot.exports import ExportError
    from bot.report import describe, write_report
    from bot.services.audit import cli_actor

    path = user_path(args.output)
    settings = get_settings()
    try:
        wanted = _filters(args)
        with default_database().transaction() as session:
            report = write_report(
                session, wanted, path, actor=cli_actor(), minimum=settings.export_min_count,
                org_name=settings.org_name, timezone_name=settings.timezone,
            )  # fmt: skip
    except ExportError as exc:
        print(f"Not written: {exc}.", file=sys.stderr)
        return 2
    print(describe(report, path))
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    """The filters every export (and the report) takes."""
    parser.add_argument(
        "--from", dest="date_from", metavar="DATE", help="from this day (YYYY-MM-DD)"
    )
    parser.add_argument(
        "--to", dest="date_to", metavar="DATE", help="to this day, included (YYYY-MM-DD)"
    )
    parser.add_argument("--theme", action="append", default=[], help="a theme key (repeat)")
    parser.add_argument("--area", action="append", default=[], help="a district (repeat)")
    parser.add_argument("--channel", choices=["sms", "telegram"])
    parser.add_argument("--question", type=int, help="answers to this check-in question")
    parser.add_argument("--update", type=int, help="comments on (reactions to) this update")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage export KIND` (one per kind of export) and `engage report`."""
    from bot.exports.run import KINDS

    export = commands.add_parser("export", help="data for analysts (pseudonymised, redacted)")
    export_kinds = export.add_subparsers(dest="kind", required=True)
    for kind in KINDS.values():
        sub = export_kinds.add_parser(kind.name, help=kind.help)
        sub.add_argument("-o", "--output", required=True, help="the file to write")
        sub.add_argument("--format", choices=kind.formats, help="default: the file's ending")
        if kind.name == "counts":
            sub.add_argument(
                "--by", default="theme,month",
                help="cells by some of theme,month,area,channel (default: theme,month)",
            )  # fmt: skip
        _add_filters(sub)
        sub.set_defaults(func=cmd_export)

    report = commands.add_parser(
        "report", help="the engagement report: one HTML file to share (suppressed)"
    )
    report.add_argument("-o", "--output", required=True, help="the HTML file to write")
    _add_filters(report)
    report.set_defaults(func=cmd_report)
