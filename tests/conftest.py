"""Shared fixtures: a migrated database on SQLite and, when TEST_DATABASE_URL is set, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.db import Database
from bot.migrate import upgrade
from bot.models import metadata
from bot.settings import Settings

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


def _fresh_postgres_database(server_url: str) -> tuple[str, str]:
    """Create an empty database on the server; returns (its URL, its name)."""
    name = f"engage_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(make_url(server_url).set(database=name)), name


def _drop_postgres_database(server_url: str, name: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated, empty PostgreSQL database for this test run."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("TEST_DATABASE_URL must be set in CI: PostgreSQL tests may not skip")
        pytest.skip("TEST_DATABASE_URL is not set")
    url, name = _fresh_postgres_database(POSTGRES_URL)
    upgrade(url)
    yield url
    _drop_postgres_database(POSTGRES_URL, name)


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
def settings(tmp_path) -> Settings:
    """Settings as a fresh machine would have them, with a known organisation name."""
    return Settings.from_env(
        {
            "ORG_NAME": "Leeds Listens",
            "PRIVACY_URL": "https://leeds.example/p",
            "ENGAGE_VAR_DIR": str(tmp_path / "var"),
        }
    )
