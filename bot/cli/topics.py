"""`engage topics`: emerging topics, views that fit no theme grouped by meaning."""

from __future__ import annotations

import argparse
import json
import sys

from bot.settings import get_settings


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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `engage topics`."""
    topics = commands.add_parser(
        "topics", help="emerging topics: views that fit no theme, grouped by meaning"
    )
    topics.add_argument("--days", type=int, default=90, help="views of the last DAYS days (90)")
    topics.add_argument("--json", action="store_true", help="print JSON instead of a table")
    topics.set_defaults(func=cmd_topics)
