"""SQLite files hold residents' data: no other user of the machine can read them."""

from __future__ import annotations

import stat

from sqlalchemy import text

from bot.db import Database, private_sqlite


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_and_the_files_sqlite_makes_beside_it_are_its_owners_only(tmp_path):
    path = tmp_path / "var" / "engage.db"
    database = Database(f"sqlite:///{path}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE t (x TEXT)"))
        session.execute(text("INSERT INTO t VALUES ('a view')"))
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["engage.db", "engage.db-shm", "engage.db-wal"]  # the pool keeps it open
    assert {p.name: _mode(p) for p in path.parent.iterdir()} == dict.fromkeys(files, 0o600)
    database.engine.dispose()


def test_an_existing_database_and_its_journals_lose_only_other_users_access(tmp_path):
    path = tmp_path / "tracker.db"
    wal = tmp_path / "tracker.db-wal"  # left by a crash: SQLite would reuse it as it is
    for made in (path, wal):
        made.touch()
        made.chmod(0o664)
    private_sqlite(f"sqlite:///{path}")
    assert (_mode(path), _mode(wal)) == (0o660, 0o660)
    path.chmod(0o600)
    private_sqlite(f"sqlite:///{path}")
    assert _mode(path) == 0o600


def test_other_databases_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    private_sqlite("postgresql://postgres@127.0.0.1:5432/postgres")
    private_sqlite("sqlite://")
    private_sqlite("sqlite:///:memory:")
    private_sqlite(f"sqlite:///file:{tmp_path}/x.db?mode=ro&uri=true")  # as the operator asked
    assert list(tmp_path.iterdir()) == []
