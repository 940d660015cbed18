"""How well the trained model understands what a message is, on the held-out splits.

Safeguarding: every danger and self-harm message must be flagged (recall 1.0), and
under 2% of ordinary views (the 210 of the themes split) may be; the hard negatives of
the safeguarding split are reported apart. Off-topic: none taken for a
view. Views about two things: both themes found in at least 80%, a second theme given to
at most 5% of single-theme views (tests/nlu/themes_test.yml). It reads models/engage.tar.gz
(`make train` first) and prints what it got wrong.

    .venv/bin/python bench/understanding.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.nlu.evaluation import (  # noqa: E402
    ThemeParser,
    load_items,
    load_labelled,
    multitheme_results,
    offtopic_results,
    safeguarding_results,
)

SPLITS = ROOT / "tests" / "nlu"


def main() -> int:
    """Print the figures; the last line sums them up."""
    parser = ThemeParser(ROOT / "models" / "engage.tar.gz")
    guarded = safeguarding_results(parser, load_items(SPLITS / "safeguarding_test.yml", "kind"))
    for kind, result in guarded.items():
        what = "not flagged" if kind == "none" else "flagged"
        counted = f"{result.right:4d}/{result.total:<4d}"
        print(f"safeguarding {kind:13s} {counted} {what} ({result.rate:.3f})")
        for text in result.wrong:
            print(f"    wrong: {text}")
    single, _ = load_labelled(SPLITS / "themes_test.yml")
    ordinary = safeguarding_results(parser, [{"text": text, "kind": "none"} for text in single])[
        "none"
    ]
    print(f"ordinary views (themes split) not flagged: {ordinary.right}/{ordinary.total}")
    for text in ordinary.wrong:
        print(f"    wrong: {text}")
    offtopic = offtopic_results(parser, load_items(SPLITS / "offtopic_test.yml", "intent"))
    print(f"off-topic not taken for a view: {offtopic.right}/{offtopic.total}")
    for text in offtopic.wrong:
        print(f"    wrong: {text}")
    both, alone = multitheme_results(
        parser, load_items(SPLITS / "multitheme_test.yml", "themes"), single
    )
    print(f"two themes both found: {both.right}/{both.total} ({both.rate:.3f})")
    for text in both.wrong:
        print(f"    missed: {text}")
    print(f"single-theme views given a second theme: {alone.total - alone.right}/{alone.total}")
    for text in alone.wrong:
        print(f"    wrong: {text}")
    recall = min(guarded[k].rate for k in ("danger_now", "self_harm"))
    print(
        f"understanding: danger_self_harm_recall={recall:.3f} "
        f"false_alarm_views={1 - ordinary.rate:.3f} "
        f"false_alarm_hard={1 - guarded['none'].rate:.3f} "
        f"offtopic_stored={offtopic.total - offtopic.right} two_themes={both.rate:.3f} "
        f"false_second={1 - alone.rate:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
