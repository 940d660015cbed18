"""`engage themes classify|eval|corrections`: the theme classifier and its training data."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import parse_date, user_path
from bot.settings import get_settings

if TYPE_CHECKING:
    from bot.nlu.evaluation import Scores

TEST_SPLIT = Path("tests") / "nlu" / "themes_test.yml"  # the project's held-out test split


def _model_path(explicit: str | None) -> Path:
    from bot.runner import latest_model

    if explicit:
        return Path(explicit)
    model = latest_model(get_settings().model_dir)
    if model is None:
        raise SystemExit("No trained model: run `make train` first.")
    return model


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


def before_after(labels: tuple[str, ...], before: Scores, after: Scores) -> str:
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
        print(before_after(ours.labels, before, ours))
    return 0


def cmd_themes_corrections(args: argparse.Namespace) -> int:
    """Write the views residents and officers re-themed as NLU training-example candidates."""
    from bot.db import default_database
    from bot.models import utcnow
    from bot.services import audit
    from bot.services.topics import corrected_examples, nlu_yaml

    try:
        since = parse_date(args.since)
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
        f"{count} example{'' if count == 1 else 's'} for {len(examples)} "
        f"theme{'' if len(examples) == 1 else 's'} written to {path}."
    )
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage themes classify|eval|corrections`."""
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
