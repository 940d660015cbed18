"""Replies to "Did this help?" read from how they start, on 38 varied replies."""

from __future__ import annotations

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from bot.update_replies import has_words, reply_kind

CASES = yaml.safe_load((PROJECT_ROOT / "tests/nlu/update_replies_test.yml").read_text())


def test_the_set_covers_yes_no_and_comments():
    kinds = [case["kind"] for case in CASES]
    assert len(CASES) >= 30
    assert min(kinds.count(k) for k in ("helped", "not_helped", "comment")) >= 4


@pytest.mark.parametrize("case", CASES, ids=[case["text"] for case in CASES])
def test_a_reply_that_starts_negative_did_not_help(case):
    assert reply_kind(case["text"], None) == case["kind"]


@pytest.mark.parametrize(
    ("intent", "kind"), [("affirm", "helped"), ("deny", "not_helped"), ("share_view", "comment")]
)
def test_the_intent_decides_when_the_words_do_not(intent, kind):
    assert reply_kind("the bus", intent) == kind


def test_a_bare_yes_or_no_has_no_words_to_keep():
    assert not has_words("no")
    assert not has_words("yes it did")
    assert has_words("not really, the one outside the school still isnt done")
