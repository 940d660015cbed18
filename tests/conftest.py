"""Shared fixtures: a migrated database on SQLite and, when TEST_DATABASE_URL is set, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.db import Database
from bot.fake_providers import FakeProviders
from bot.migrate import upgrade
from bot.models import metadata
from bot.settings import Settings
from tests.databases import drop_postgres_database, fresh_postgres_database

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
# Redis is for the tests of several servers only (tests/e2e/test_scale_out.py and
# tests/bot/test_redis_shared.py read it here): taken out of the environment, so that every
# other process the tests start runs as one machine does, without Redis.
REDIS_URL = os.environ.pop("REDIS_URL", "").strip()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated, empty PostgreSQL database for this test run."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL must be set in CI: PostgreSQL tests may not skip")
        pytest.skip("TEST_DATABASE_URL is not set")
    url, name = fresh_postgres_database(POSTGRES_URL)
    upgrade(url)
    yield url
    drop_postgres_database(POSTGRES_URL, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path) -> Iterator[Database]:
    """A migrated, empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'engage.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database(url)
    yield db
    with db.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    db.dispose()


@pytest.fixture
def tracker(database):  # type: ignore[no-untyped-def]
    """Rasa's own SQL tracker store on the test database, its table dropped afterwards."""
    from tests.tracker import clear_events, tracker_store_for

    store = tracker_store_for(database)
    yield store
    clear_events(database)
    store.engine.dispose()


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    """A fake Twilio and Telegram on 127.0.0.1 for one test (e2e: one per package)."""
    providers = FakeProviders().start()
    yield providers
    providers.stop()


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings as a fresh machine would have them, with a known organisation name."""
    return Settings.from_env(
        {
            "ORG_NAME": "Leeds Listens",
            "PRIVACY_URL": "https://leeds.example/p",
            "ENGAGE_VAR_DIR": str(tmp_path / "var"),
        }
    )
