"""Fixture bodies written once and registered by the conftest.py (or test module) that needs
them, each with the scope its package needs: the fake providers per test in tests/conftest.py,
per package under the stack in tests/e2e/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

from bot.fake_providers import FakeProviders


def fake_providers(delay_s: float = 0.0) -> Iterator[FakeProviders]:
    """A fake Twilio and Telegram on 127.0.0.1 (answering sends `delay_s` late), stopped after."""
    providers = FakeProviders()
    providers.delay_s = delay_s
    providers.start()
    yield providers
    providers.stop()
