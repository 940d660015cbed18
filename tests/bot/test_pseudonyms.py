"""Pseudonymous resident ids: stable with one key, different with another, never without."""

from __future__ import annotations

import pytest

from bot.pseudonyms import NoPseudonymKey, pseudonym


def test_pseudonyms_are_stable_with_one_key_and_differ_with_another():
    first = pseudonym(42, "key-one")
    assert first == pseudonym(42, "key-one") and len(first) == 64
    assert first != pseudonym(43, "key-one")
    assert first != pseudonym(42, "key-two")


def test_no_key_no_pseudonym():
    with pytest.raises(NoPseudonymKey, match="EXPORT_PSEUDONYM_KEY"):
        pseudonym(42, "")
