"""The `engage` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from bot.cli_residents import add_commands as add_residents_commands
from bot.settings import PROJECT_ROOT, SettingsError, get_settings


def _model_path(explicit: str | None) -> Path:
    from bot.runner import latest_model

    if explicit:
        return Path(explicit)
    model = latest_model(get_settings().model_dir)
    if model is None:
        raise SystemExit("No trained model: run `make train` first.")
    return model


RUN_DESCRIPTION = (
    "Migrate the database, then start six processes: the webhook gateway (SMS, Telegram, "
    "the REST channel and the inbox worker), the Rasa server, the action server, the "
    "check-in scheduler, the notifier that sends updates, and the officer console. "
    "Ctrl-C stops them all."
)


def cmd_run(args: argparse.Namespace) -> int:
    """Start the gateway, Rasa, the action server, scheduler, notifier and console."""
    from bot.runner import run

    return run(get_settings())


DEMO_DESCRIPTION = (
    "Start everything as `engage run` does, on its own database and ports (ENGAGE_VAR_DIR/demo, "
    "wiped and seeded with a synthetic council at each start), with a local stand-in for "
    "Twilio and Telegram that prints each message instead of sending it. `engage demo text` "
    "writes to the running demo as a resident would by SMS."
)


def _residents(text: str) -> int:
    from bot.demo.council import MAX_RESIDENTS

    value = int(text)
    if not 1 <= value <= MAX_RESIDENTS:
        raise argparse.ArgumentTypeError(f"from 1 to {MAX_RESIDENTS}")
    return value


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo, or text the running demo as a resident."""
    from bot.demo.run import run_demo, text_as_resident

    if args.demo_action == "text":
        return text_as_resident(get_settings(), " ".join(args.message), args.sender)
    return run_demo(get_settings(), residents=args.residents)


def cmd_gateway(args: argparse.Namespace) -> int:
    """Serve the webhooks and process the inbox."""
    import logging

    from bot.gateway import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        serve(get_settings())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one of `engage run`'s processes in the foreground (systemd, a Procfile)."""
    from bot.runner import serve

    return serve(args.process, get_settings())


def cmd_chat(args: argparse.Namespace) -> int:
    """Chat with the running bot."""
    from bot.chat import main_chat

    settings = get_settings()
    url = args.url or f"http://127.0.0.1:{settings.gateway_port}/webhooks/rest/webhook"
    return main_chat(
        url, settings.var_dir / "chat-sender", new=args.new, token=settings.rest_api_token
    )


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Create or migrate the database."""
    from bot.migrate import upgrade

    upgrade(get_settings().database_url)
    print("Database is up to date.")
    return 0


def cmd_themes_classify(args: argparse.Namespace) -> int:
    """Classify one text per stdin line; print one JSON object per line."""
    from bot.nlu.evaluation import ThemeParser

    texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    parser = ThemeParser(_model_path(args.model))
    for prediction in parser.classify(texts):
        print(
            json.dumps(
                {
                    "text": prediction.text,
                    "theme": prediction.theme,
                    "confidence": prediction.confidence,
                }
            ),
            flush=True,
        )
    return 0


TEST_SPLIT = Path("tests") / "nlu" / "themes_test.yml"  # the project's held-out test split


def _before_after(labels: tuple[str, ...], before, after) -> str:  # type: ignore[no-untyped-def]
    """Per-theme F1 and macro-F1 of two models side by side, with the change."""
    width = max(len(label) for label in labels)
    lines = [f"{'theme':{width}s}  before  after  change"]
    for n, label in enumerate(labels):
        change = after.f1[n] - before.f1[n]
        lines.append(f"{label:{width}s}  {before.f1[n]:6.3f}  {after.f1[n]:5.3f}  {change:+6.3f}")
    change = after.macro_f1 - before.macro_f1
    lines.append(
        f"{'macro-F1':{width}s}  {before.macro_f1:6.3f}  {after.macro_f1:5.3f}  {change:+6.3f}"
    )
    return "\n".join(lines)


def cmd_themes_eval(args: argparse.Namespace) -> int:
    """Score the trained model and the TF-IDF baseline on a labelled file (by default the
    project's test split); with --before, an older model beside it (before and after)."""
    from bot.nlu.evaluation import (
        ThemeParser,
        load_labelled,
        load_training_views,
        report,
        score,
        tfidf_baseline,
    )

    labelled = args.file or str(TEST_SPLIT)
    try:
        texts, labels = load_labelled(user_path(args.file) if args.file else TEST_SPLIT)
    except (OSError, ValueError) as exc:
        print(f"Cannot read {labelled}: {exc}", file=sys.stderr)
        return 2
    before_path = user_path(args.before) if args.before else None
    if before_path is not None and not before_path.exists():
        print(f"No model at {args.before}.", file=sys.stderr)
        return 2
    predictions = ThemeParser(_model_path(args.model)).classify(texts)
    ours = score(labels, [p.theme for p in predictions])
    train_texts, train_labels = load_training_views()
    baseline = score(labels, list(tfidf_baseline(train_texts, train_labels).predict(texts)))
    print(report("trained NLU pipeline (ThemeClassifier)", ours))
    print()
    print(report("baseline: TF-IDF + logistic regression, same training data", baseline))
    print()
    print(f"macro-F1: pipeline {ours.macro_f1:.3f}, baseline {baseline.macro_f1:.3f}")
    if before_path is not None:
        earlier = ThemeParser(before_path).classify(texts)
        before = score(labels, [p.theme for p in earlier])
        print()
        after = args.model or "the newest model"
        print(f"Before ({args.before}) and after ({after}), F1 on {labelled}:")
        print(_before_after(ours.labels, before, ours))
    return 0


def cmd_themes_corrections(args: argparse.Namespace) -> int:
    """Write the views residents and officers re-themed as NLU training-example candidates."""
    from bot.db import default_database
    from bot.models import utcnow
    from bot.services import audit
    from bot.services.topics import corrected_examples, nlu_yaml

    try:
        since = _date(args.since)
    except ValueError:
        print("--since must look like 2026-12-01.", file=sys.stderr)
        return 2
    path = user_path(args.output)
    with default_database().transaction() as session:
        examples = corrected_examples(session, since)
        count = sum(len(texts) for texts in examples.values())
        note = (
            f"Views whose theme a resident or officer corrected"
            f"{f' since {since:%Y-%m-%d}' if since else ''}, as of {utcnow():%Y-%m-%d %H:%M} UTC\n"
            "(redacted). Training-example candidates: review them, move the good ones to\n"
            "data/nlu/themes/<theme>.yml, retrain (make train), compare (engage themes eval)."
        )
        try:
            path.write_text(nlu_yaml(examples, note), encoding="utf-8")
        except OSError as exc:
            print(f"Cannot write {args.output}: {exc.strerror}.", file=sys.stderr)
            return 2
        audit.record(
            session, actor=audit.cli_actor(), action="export.corrections",
            detail={"since": since.isoformat() if since else None, "rows": count},
        )  # fmt: skip
    print(
        f"{count} example{'' if count == 1 else 's'} for {len(examples)} themes written to {path}."
    )
    return 0


def cmd_telegram_webhook(args: argparse.Namespace) -> int:
    """Register (or remove) our webhook with Telegram."""
    import asyncio

    from channels.telegram import ALLOWED_UPDATES, make_bot, webhook_url

    settings = get_settings()
    if not settings.telegram_bot_token:
        print("Set TELEGRAM_BOT_TOKEN first (from @BotFather).", file=sys.stderr)
        return 2

    async def _call() -> bool:
        async with make_bot(settings) as bot:
            if args.action == "delete":
                return await bot.delete_webhook()
            return await bot.set_webhook(
                url=webhook_url(settings),
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )

    if args.action == "set" and not (
        settings.public_base_url.startswith("https://") and settings.telegram_webhook_secret
    ):
        print(
            "Set PUBLIC_BASE_URL (https://...) and TELEGRAM_WEBHOOK_SECRET first.", file=sys.stderr
        )
        return 2
    from telegram.error import TelegramError

    try:
        ok = asyncio.run(_call())
    except TelegramError as exc:
        print(f"Telegram refused: {exc}", file=sys.stderr)
        return 1
    if args.action == "set":
        print(f"Telegram will post updates to {webhook_url(settings)}" if ok else "Not set.")
    else:
        print("Webhook removed." if ok else "Not removed.")
    return 0 if ok else 1


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Run the check-in scheduler (one pass with --once)."""
    import asyncio
    import logging
    from datetime import datetime, timezone

    from bot.db import default_database
    from bot.outbound import Outbound, senders_for
    from bot.rasa_pool import rasa_for
    from bot.scheduler import run_once, serve_forever

    settings = get_settings()
    if not settings.rasa_api_token:
        print("Set RASA_API_TOKEN (the token of Rasa's inbox channel) first.", file=sys.stderr)
        return 2
    try:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(timezone.utc)
    except ValueError:
        print(f"--now must be ISO-8601, like 2026-12-01T10:00:00+00:00; got {args.now!r}")
        return 2
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    database = default_database()
    if not args.once:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
            asyncio.run(serve_forever(database, settings))
        return 0
    rasa = rasa_for(settings)
    outbound = Outbound(database, settings, senders_for(settings))

    async def _one_pass():  # type: ignore[no-untyped-def]
        try:
            return await run_once(database, settings, now, rasa, outbound)
        finally:
            await rasa.close()
            await outbound.close()

    report = asyncio.run(_one_pass())
    if report.quiet:
        print("Quiet hours: nothing sent.")
    else:
        print(
            f"{report.due} due, {report.sent} sent, {report.failed} failed, "
            f"{report.skipped} already claimed."
        )
    return 1 if report.failed else 0


def _date(text: str | None):  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def cmd_checkins(args: argparse.Namespace) -> int:
    """Officers' check-in questions: add (with a preview), list, end (as the console does)."""
    from bot.db import default_database
    from bot.models import utcnow
    from bot.services.audit import cli_actor
    from bot.services.checkins import InvalidQuestion
    from bot.services.checkins_questions import (
        UnknownQuestion,
        add_question_recorded,
        end_question,
        list_questions,
        preview_message,
        reach_of_question,
    )

    settings = get_settings()
    database = default_database()
    if args.action == "add":
        try:
            starts, ends = _date(args.starts) or utcnow(), _date(args.ends)
        except ValueError:
            print("Dates must look like 2026-12-01 or 2026-12-01T09:00.", file=sys.stderr)
            return 2
        try:
            with database.transaction() as session:
                question = add_question_recorded(
                    session,
                    actor=cli_actor(),
                    wording=args.wording,
                    kind=args.kind,
                    ask_why=args.ask_why,
                    themes=args.theme,
                    areas=args.area,
                    starts_at=starts,
                    ends_at=ends,
                )
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
    if args.action == "end":
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


def cmd_topics(args: argparse.Namespace) -> int:
    """Emerging topics: views that fit no theme, grouped by meaning (a table, or JSON)."""
    from bot.db import default_database
    from bot.nlu.embeddings import shared_encoder
    from bot.services.topics import find_topics

    settings = get_settings()
    try:
        encode = shared_encoder(settings.encoder_dir).encode
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    with default_database().transaction() as session:
        topics = find_topics(
            session, encode, low_confidence=settings.theme_confidence_threshold, days=args.days
        )
    if args.json:
        print(json.dumps([topic.as_dict() for topic in topics], ensure_ascii=False, indent=2))
        return 0
    if not topics:
        print(f"No emerging topic in the last {args.days} days.")
        return 0
    print(
        f"{'topic':8s} {'views':>5s}  {'trend':8s} {'districts':24s} words, then a typical message"
    )
    for topic in topics:
        districts = ", ".join(f"{area} {n}" for area, n in topic.districts[:3])
        print(
            f"{topic.key:8s} {topic.size:5d}  {topic.trend:8s} {districts:24s} "
            f"{', '.join(topic.words)}: {topic.typical[0]}"
        )
    return 0


def cmd_notifier(args: argparse.Namespace) -> int:
    """Send queued updates to residents (drain once and exit with --once)."""
    import asyncio
    import logging
    from datetime import timedelta

    from bot.db import default_database
    from bot.notifier import IN_FLIGHT, Notifier, serve_forever
    from bot.outbound import senders_for

    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # channels/common.py keeps the providers' loggers quiet
    senders = senders_for(settings, telegram_connections=IN_FLIGHT)
    if not senders:
        print("No channel is configured (Twilio or Telegram): updates stay queued.")
    notifier = Notifier(default_database(), settings, senders, lease=timedelta(seconds=args.lease))
    if not args.once:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
            asyncio.run(serve_forever(notifier))
        return 0
    report = asyncio.run(notifier.drain())
    if report.quiet:
        print("Quiet hours: nothing sent; updates wait until they end.")
    else:
        print(
            f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed"
            + (f", {report.reconciled} found already sent" if report.reconciled else "")
            + "."
        )
    return 0


def cmd_updates(args: argparse.Namespace) -> int:
    """Preview or publish a "you said, we did" update from a terminal."""
    from bot.db import default_database
    from bot.services.audit import cli_actor
    from bot.services.updates import (
        InvalidUpdate,
        draft_recorded,
        preview,
        publish_recorded,
        update_message,
    )
    from bot.sms import segments

    try:
        since = _date(args.since)
    except ValueError:
        print("--since must look like 2026-11-01.", file=sys.stderr)
        return 2
    message = update_message(args.you_said, args.we_did, coming=args.coming)
    encoding, count = segments(message)
    print(f"Residents will read ({len(message)} characters, {count} SMS, {encoding}):")
    print(f"  {message}")
    outcome = 0
    try:
        with default_database().transaction() as session:
            update = draft_recorded(
                session,
                title=args.title,
                you_said=args.you_said,
                we_did=args.we_did,
                themes=args.theme,
                areas=args.area,
                since=since,
                actor=cli_actor(),
                coming=args.coming,
            )
            counts = preview(session, update)
            by_channel = ", ".join(f"{n} by {c}" for c, n in counts.items() if c != "total")
            print(f"Recipients: {counts['total']}" + (f" ({by_channel})" if by_channel else ""))
            if args.action == "preview":
                raise _KeepNothing(0)
            if counts["total"] == 0:
                print("Nobody to tell: nothing published.")
                raise _KeepNothing(1)
            question = f"Publish to {counts['total']} residents? [y/N] "
            if not args.yes and input(question).strip().lower() not in ("y", "yes"):
                print("Not published.")
                raise _KeepNothing(1)
            queued = publish_recorded(session, update.id, actor=cli_actor()) or 0
            print(f"Published update {update.id}: {queued} messages queued for the notifier.")
    except _KeepNothing as stop:
        outcome = stop.code  # the draft is rolled back
    except InvalidUpdate as exc:
        print(f"Not published: {exc}.", file=sys.stderr)
        outcome = 2
    return outcome


class _KeepNothing(Exception):
    """Leaves a transaction without keeping anything, with an exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _new_password(from_stdin: bool) -> str | None:
    """A password typed twice (or one line of stdin when it is not a terminal)."""
    import getpass

    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("The same password again: ") != first:
        print("The two passwords differ: nothing created.", file=sys.stderr)
        return None
    return first


def cmd_users(args: argparse.Namespace) -> int:
    """Officer console accounts: create, list, disable (each change is audited)."""
    from bot.db import default_database
    from bot.services.audit import cli_actor
    from bot.services.users import (
        InvalidUser,
        create_user,
        disable_user,
        list_users,
        set_safeguarding,
        user_by_email,
    )

    database = default_database()
    if args.action == "list":
        with database.transaction() as session:
            for user in list_users(session):
                state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
                sees = "safeguarding" if user.safeguarding else ""
                print(f"{user.email:40s} {user.role:8s} {state:20s} {sees:13s} {user.name}")
        return 0
    try:
        with database.transaction() as session:
            if args.action == "disable":
                user = user_by_email(session, args.email)
                if user is None:
                    raise InvalidUser(f"there is no account {args.email}")
                disable_user(session, user.id, actor=cli_actor())
                print(f"Disabled {user.email}: they can no longer sign in.")
                return 0
            if args.action == "safeguarding":
                user = user_by_email(session, args.email)
                if user is None:
                    raise InvalidUser(f"there is no account {args.email}")
                set_safeguarding(session, user.id, args.allow, actor=cli_actor())
                verb = "may now see" if args.allow else "can no longer see"
                print(f"{user.email} {verb} safeguarding messages.")
                return 0
            password = _new_password(args.password_stdin)
            if password is None:
                return 2
            user = create_user(
                session, email=args.email, name=args.name, role=args.role,
                password=password, actor=cli_actor(),
            )  # fmt: skip
            if args.safeguarding:
                set_safeguarding(session, user.id, True, actor=cli_actor())
            print(f"Created {user.role} account {user.email}.")
    except InvalidUser as exc:
        print(f"Not done: {exc}.", file=sys.stderr)
        return 2
    return 0


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


def _filters(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The export filter from `--from/--to/--theme/...` (ExportError, one line, if bad)."""
    from datetime import timedelta

    from bot.exports import ExportError, ExportFilter

    try:
        since, last = _date(args.date_from), _date(args.date_to)
    except ValueError:
        raise ExportError("dates look like 2026-11-01") from None
    return ExportFilter.checked(
        since=since,
        until=last + timedelta(days=1) if last else None,  # the last day is included
        themes=args.theme, areas=args.area, channel=args.channel,
        question_id=args.question, update_id=args.update,
    )  # fmt: skip


def _progress(rows):  # type: ignore[no-untyped-def]
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `engage`."""
    parser = argparse.ArgumentParser(prog="engage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser(
        "run",
        help="start everything: webhooks, Rasa, actions, workers and the console",
        description=RUN_DESCRIPTION,
    ).set_defaults(func=cmd_run)
    commands.add_parser(
        "gateway", help="serve the webhooks and hand the inbox to Rasa (make run starts it)"
    ).set_defaults(func=cmd_gateway)
    serve = commands.add_parser(
        "serve",
        help="run one process of `engage run` in the foreground (deploy/: systemd, Procfile)",
    )
    from bot.runner import PROCESSES

    serve.add_argument("process", choices=PROCESSES)
    serve.set_defaults(func=cmd_serve)

    demo = commands.add_parser(
        "demo",
        help="try it all locally: a synthetic council, SMS and Telegram printed, not sent",
        description=DEMO_DESCRIPTION,
    )
    demo.add_argument(
        "--residents", type=_residents, default=300, help="how many to seed (default 300)"
    )
    demo.set_defaults(func=cmd_demo, demo_action=None)
    demo_actions = demo.add_subparsers(dest="demo_action")
    demo_text = demo_actions.add_parser("text", help="send the running demo an SMS as a resident")
    demo_text.add_argument("message", nargs="+", help="what the resident writes")
    demo_text.add_argument(
        "--from", dest="sender", default="+447700900001", help="their number (+447700900001)"
    )

    chat = commands.add_parser("chat", help="chat with the running bot from this terminal")
    chat.add_argument("--url", help="the REST webhook (default: the local gateway)")
    chat.add_argument("--new", action="store_true", help="talk as a new resident")
    chat.set_defaults(func=cmd_chat)

    db = commands.add_parser("db", help="database tasks").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="create or migrate the database").set_defaults(
        func=cmd_db_upgrade
    )

    themes = commands.add_parser("themes", help="the theme classifier").add_subparsers(
        dest="themes", required=True
    )
    classify = themes.add_parser("classify", help="classify one text per line from stdin")
    classify.add_argument("--model", help="a trained model (default: the newest in models/)")
    classify.set_defaults(func=cmd_themes_classify)
    evaluate = themes.add_parser(
        "eval", help="score the model on a labelled YAML file (default: the test split)"
    )
    evaluate.add_argument(
        "file", nargs="?", help=f"a YAML list of {{text, theme}} (default: {TEST_SPLIT})"
    )
    evaluate.add_argument(
        "--before", metavar="MODEL", help="an older model to compare with (before and after)"
    )
    evaluate.add_argument("--model", help="a trained model (default: the newest in models/)")
    evaluate.set_defaults(func=cmd_themes_eval)
    corrections = themes.add_parser(
        "corrections", help="views residents or officers re-themed, as NLU training examples"
    )
    corrections.add_argument("-o", "--output", required=True, help="the YAML file to write")
    corrections.add_argument("--since", help="only themes set from this day (YYYY-MM-DD)")
    corrections.set_defaults(func=cmd_themes_corrections)

    scheduler = commands.add_parser("scheduler", help="start check-ins when residents are due")
    scheduler.add_argument("--once", action="store_true", help="run one pass and exit")
    scheduler.add_argument("--now", help="pretend the clock says this time (ISO-8601)")
    scheduler.set_defaults(func=cmd_scheduler)

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

    topics = commands.add_parser(
        "topics", help="emerging topics: views that fit no theme, grouped by meaning"
    )
    topics.add_argument("--days", type=int, default=90, help="views of the last DAYS days (90)")
    topics.add_argument("--json", action="store_true", help="print JSON instead of a table")
    topics.set_defaults(func=cmd_topics)

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

    notifier = commands.add_parser("notifier", help="send queued updates to residents")
    notifier.add_argument("--once", action="store_true", help="send what is due, then exit")
    notifier.add_argument(
        "--lease",
        type=float,
        default=60.0,
        help="seconds after which a send claimed by a stopped worker is taken over (60)",
    )
    notifier.set_defaults(func=cmd_notifier)

    export = commands.add_parser("export", help="data for analysts (pseudonymised, redacted)")
    export_kinds = export.add_subparsers(dest="kind", required=True)
    from bot.exports.run import KINDS

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

    users = commands.add_parser("users", help="officer console accounts")
    user_actions = users.add_subparsers(dest="action", required=True)
    create = user_actions.add_parser("create", help="add an account (asks for its password)")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["officer", "analyst", "admin"])
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    create.add_argument(
        "--safeguarding", action="store_true", help="may see residents' safeguarding messages"
    )
    user_actions.add_parser("list", help="every account, its role and state")
    guard = user_actions.add_parser(
        "safeguarding", help="allow or stop an account seeing safeguarding messages"
    )
    guard.add_argument("--email", required=True)
    allow = guard.add_mutually_exclusive_group(required=True)
    allow.add_argument("--allow", dest="allow", action="store_true")
    allow.add_argument("--deny", dest="allow", action="store_false")
    disable = user_actions.add_parser("disable", help="stop an account from signing in")
    disable.add_argument("--email", required=True)
    users.set_defaults(func=cmd_users)

    add_residents_commands(commands, user_path)

    retention = commands.add_parser(
        "retention", help="delete or empty what is older than its retention period"
    ).add_subparsers(dest="retention", required=True)
    retention.add_parser(
        "run", help="apply every retention rule now (the scheduler does it daily)"
    ).set_defaults(func=cmd_retention)

    telegram = commands.add_parser("telegram", help="Telegram bot set-up").add_subparsers(
        dest="telegram", required=True
    )
    telegram.add_parser(
        "set-webhook", help="point Telegram at PUBLIC_BASE_URL/webhooks/telegram/webhook"
    ).set_defaults(func=cmd_telegram_webhook, action="set")
    telegram.add_parser("delete-webhook", help="stop Telegram posting to us").set_defaults(
        func=cmd_telegram_webhook, action="delete"
    )
    return parser


_invoked_from = Path.cwd()


def user_path(text: str) -> Path:
    """A path the user typed, relative to where they ran `engage` (it moves to the project)."""
    return _invoked_from / Path(text).expanduser()


def main(argv: list[str] | None = None) -> int:
    """Run the `engage` command."""
    global _invoked_from
    _invoked_from = Path.cwd()
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


if __name__ == "__main__":
    sys.exit(main())
