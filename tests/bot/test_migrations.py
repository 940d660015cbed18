"""The Alembic migrations build exactly the tables the models describe."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.models import metadata
from tests.databases import drop_postgres_database, fresh_postgres_database


def test_migrations_match_the_models(database):
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_0010_says_every_existing_theme_was_set_when_its_view_was_stored(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, text

    from bot.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0009")
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO residents (conversation_id, created_at, contact_ok, rhythm) "
            "VALUES ('c1', '2026-01-02 03:04:05', 0, 'monthly')"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO views (resident_id, text, theme_key, theme_source, channel, "
            "conversation_id, created_at) VALUES (1, 'buses', 'roads_transport', 'resident', "
            "'sms', 'c1', '2026-01-02 03:04:05')"
        ))  # fmt: skip
    upgrade(url)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT theme_set_at, created_at, hidden_at, hidden_reason FROM views")
        ).one()
    assert row[0] == row[1] and row[2] is None and row[3] is None
    command.downgrade(alembic_config(url), "0009")
    with engine.connect() as connection:
        columns = [c[1] for c in connection.execute(text("PRAGMA table_info(views)"))]
    assert "theme_set_at" not in columns and "hidden_at" not in columns
    engine.dispose()


def test_0011_marks_the_standing_question_by_the_wording_it_had(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, text

    from bot.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0010")
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        for wording, kind in [
            ("What's one thing about your area you'd change?", "open"),  # the standing one
            ("What's one thing about your area you'd change?", "scale"),  # an officer's
            ("How are the buses?", "open"),
        ]:
            connection.execute(
                text(
                    "INSERT INTO checkin_questions (wording, kind, ask_why, themes, areas, "
                    "starts_at, created_at) VALUES (:wording, :kind, 0, '[]', '[]', "
                    "'2026-01-02 03:04:05', '2026-01-02 03:04:05')"
                ),
                {"wording": wording, "kind": kind},
            )
    upgrade(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT kind, standing FROM checkin_questions ORDER BY id")
        ).all()
    assert [(kind, bool(standing)) for kind, standing in rows] == [
        ("open", True), ("scale", False), ("open", False)
    ]  # fmt: skip
    command.downgrade(alembic_config(url), "0010")
    with engine.connect() as connection:
        columns = [c[1] for c in connection.execute(text("PRAGMA table_info(checkin_questions)"))]
    assert "standing" not in columns
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path) -> Iterator[str]:
    """An empty database to migrate step by step: a SQLite file, or a throwaway PostgreSQL
    database when TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not server:
        pytest.skip("TEST_DATABASE_URL is not set")
    url, name = fresh_postgres_database(server, prefix="engage_migration_test")
    yield url
    drop_postgres_database(server, name)


def _a_resident(connection) -> int:
    """One resident, written as any migration since 0001 takes it; their id."""
    from sqlalchemy import text

    connection.execute(text(
        "INSERT INTO residents (conversation_id, created_at, contact_ok, rhythm) "
        "VALUES ('c1', '2026-01-02 03:04:05', false, 'monthly')"
    ))  # fmt: skip
    return connection.execute(text("SELECT id FROM residents")).scalar_one()


def test_0012_redacts_the_views_written_before_it(empty_url):
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    from bot.migrate import alembic_config, upgrade
    from bot.redaction import REDACTION_VERSION

    upgrade(empty_url, "0011")
    engine = create_engine(empty_url, future=True)
    said = ["call me on 07700 900123", "bins, again", "jo@example.org at 12 Fern Street", ""]
    with engine.begin() as connection:
        resident = _a_resident(connection)
        connection.execute(
            text(
                "INSERT INTO views (resident_id, text, theme_key, theme_source, channel, "
                "conversation_id, created_at) VALUES (:resident, :words, NULL, 'model', 'sms', "
                "'c1', '2026-01-02 03:04:05')"
            ),
            [{"resident": resident, "words": words} for words in said * 501],  # > 1 batch
        )
    upgrade(empty_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT text_redacted, redaction_version FROM views ORDER BY id")
        ).all()
    assert rows == [
        ("call me on [phone]", REDACTION_VERSION), ("bins, again", REDACTION_VERSION),
        ("[email] at [address]", REDACTION_VERSION), ("", REDACTION_VERSION),
    ] * 501  # fmt: skip
    command.downgrade(alembic_config(empty_url), "0011")
    with engine.connect() as connection:
        columns = [column["name"] for column in inspect(connection).get_columns("views")]
    assert "text_redacted" not in columns and "redaction_version" not in columns
    assert "text" in columns
    engine.dispose()


def test_0014_redacts_again_only_the_views_redacted_under_other_rules(empty_url):
    from sqlalchemy import create_engine, text

    from bot.migrate import upgrade
    from bot.redaction import REDACTION_VERSION

    upgrade(empty_url, "0013")
    engine = create_engine(empty_url, future=True)
    with engine.begin() as connection:
        resident = _a_resident(connection)
        connection.execute(
            text(
                "INSERT INTO views (resident_id, text, text_redacted, redaction_version, "
                "theme_key, theme_source, channel, conversation_id, created_at) VALUES "
                "(:resident, :words, :redacted, :version, NULL, 'model', 'sms', 'c1', "
                "'2026-01-02 03:04:05')"
            ),
            [
                {"resident": resident, "words": words, "redacted": redacted, "version": version}
                for words, redacted, version in [
                    ("i pay 2 quid each way", "i pay [address]", REDACTION_VERSION - 1),
                    ("a 20 min drive, ring 07700 900123", "OLD", None),
                    ("kept as it is", "STORED", REDACTION_VERSION),
                ]
                * 600  # more than one batch
            ],
        )
    upgrade(empty_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT text_redacted, redaction_version FROM views ORDER BY id")
        ).all()
    assert (
        rows
        == [
            ("i pay 2 quid each way", REDACTION_VERSION),
            ("a 20 min drive, ring [phone]", REDACTION_VERSION),
            ("STORED", REDACTION_VERSION),  # already under today's rules: not read again
        ]
        * 600
    )
    engine.dispose()
