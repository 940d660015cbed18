"""Fixtures for every test: a migrated database on SQLite and, when TEST_DATABASE_URL is set,
PostgreSQL; Rasa's tracker store on it; the fake providers; settings. Residents to fill the
database with are made by tests/residents.py."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import Database
from bot.migrate import upgrade
from bot.models import metadata
from bot.settings import Settings
from tests.databases import drop_postgres_database, fresh_postgres_database
from tests.fixtures import fake_providers

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


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An SQLite database migrated once for the whole run, to copy for each test."""
    path = tmp_path_factory.mktemp("migrated") / "engage.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path, migrated_sqlite) -> Iterator[Database]:
    """A migrated, empty database: SQLite, then PostgreSQL; the SQLite one copied from
    `migrated_sqlite` rather than migrated again (0.5 s a test)."""
    if request.param == "sqlite":
        path = tmp_path / "engage.db"
        with (
            closing(sqlite3.connect(migrated_sqlite)) as source,
            closing(sqlite3.connect(path)) as copy,
        ):
            source.backup(copy)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database(url)
    yield db
    if request.param != "sqlite":  # the SQLite copy goes with tmp_path
        with db.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
            # Ids start from 1 again, as on a fresh SQLite copy: no test sees another's ids.
            sequences = conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
            ).scalars()
            for name in sequences.all():
                conn.execute(text(f'ALTER SEQUENCE "{name}" RESTART'))
    db.dispose()


@pytest.fixture
def tracker(database):  # type: ignore[no-untyped-def]
    """Rasa's own SQL tracker store on the test database, its table dropped afterwards."""
    from tests.tracker import clear_events, tracker_store_for

    store = tracker_store_for(database)
    yield store
    clear_events(database)
    store.engine.dispose()


# A fake Twilio and Telegram for each test (tests/e2e/conftest.py: one for the package).
fake = pytest.fixture(fake_providers, name="fake")


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
