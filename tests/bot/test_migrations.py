"""The Alembic migrations build exactly the tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.models import metadata


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
