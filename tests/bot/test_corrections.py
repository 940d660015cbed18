"""Reading a theme correction in order: "not X, it's Y" is Y, on 70 phrasings."""

from __future__ import annotations

import pytest
import yaml

from bot.corrections import read_correction
from bot.settings import PROJECT_ROOT

CASES = yaml.safe_load((PROJECT_ROOT / "tests/nlu/corrections_test.yml").read_text())


def test_the_set_is_large_and_mostly_negated():
    assert len(CASES) >= 60
    assert sum(bool(case.get("ruled_out")) for case in CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[case["text"] for case in CASES])
def test_a_correction_picks_the_theme_meant_never_the_one_ruled_out(case):
    found = read_correction(case["text"])
    assert found.theme == case["theme"]
    assert found.ruled_out == frozenset(case.get("ruled_out") or [])
    assert found.keep_words == bool(case.get("keep"))
    if case.get("ruled_out"):
        assert found.is_correction


@pytest.mark.parametrize(
    "text",
    [
        "not enough buses after 6",
        "not safe walking through the park at night",
        "no bus on sundays",
        "the park isnt safe after dark",
        "theres no police presence on our estate at all",
        "the bins are never collected on time",
        "not great, the bins are overflowing again",
        "the library should be open on sundays",
    ],
)
def test_a_new_view_is_not_read_as_a_correction(text):
    assert not read_correction(text).is_correction
