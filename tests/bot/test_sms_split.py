"""Splitting long replies into single-segment SMS, in order, at word boundaries."""

from __future__ import annotations

from bot.sms import segments, split_sms, split_text


def test_short_text_is_one_part():
    assert split_sms("Thanks, noted under Housing.") == ["Thanks, noted under Housing."]


def test_parts_keep_order_break_at_spaces_and_fit_one_segment():
    text = " ".join(f"w{i:03d}" for i in range(100))  # 499 characters
    parts = split_sms(text)
    assert " ".join(parts) == text
    assert all(segments(p) == ("GSM-7", 1) for p in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)


def test_ucs2_text_uses_70_unit_parts_and_never_cuts_a_character():
    text = "caf\u00e9 \u0142\u00f3d\u017a " * 30 + "\U0001f600" * 40  # emoji take two units each
    parts = split_sms(text)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")
    for part in parts:
        assert segments(part) == ("UCS-2", 1)
        part.encode("utf-8")  # no lone surrogate: every character is whole


def test_a_word_longer_than_a_segment_is_cut_between_characters():
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
