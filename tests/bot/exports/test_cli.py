"""`engage export <kind>` end to end: each kind written and audited, every refusal one line
on stderr with exit status 2 and no file."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot import cli
from bot.models import AuditEvent
from bot.settings import get_settings
from tests.bot.exports.support import KEY


@pytest.fixture
def engage(database, tmp_path, monkeypatch, capsys):
    """Run `engage ...` against `database`; returns (status, stdout, stderr)."""
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("EXPORT_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("EXPORT_MIN_COUNT", "2")
    monkeypatch.setenv("ENGAGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setattr("bot.db._default", database)
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        status = cli.main(["export", *args])
        out, err = capsys.readouterr()
        return status, out, err

    yield run
    get_settings.cache_clear()


def _refused(result: tuple[int, str, str], reason: str) -> None:
    status, out, err = result
    assert status == 2 and out == ""
    assert err.startswith("Not exported: ") and reason in err
    assert err.count("\n") == 1  # one line


def test_views_reactions_and_counts_from_the_command_line(database, golden, engage, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    status, said, _ = engage("views", "-o", str(out / "views.xlsx"))
    assert status == 0 and said == f"Exported 5 views to {out / 'views.xlsx'} (xlsx).\n"
    assert engage("reactions", "-o", str(out / "r.csv"), "--channel", "telegram")[:2] == (
        0, f"Exported 1 reaction to {out / 'r.csv'} (csv).\n"
    )  # fmt: skip
    status, said, _ = engage("counts", "-o", str(out / "c.jsonl"), "--by", "month,theme,area")
    assert status == 0 and said.startswith("Exported ") and "rows to" in said
    rows = [json.loads(line) for line in (out / "c.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {"theme", "theme_label", "month", "area", "views", "residents"}

    before = sorted(p.name for p in out.iterdir())
    _refused(engage("reactions", "-o", str(out / "x.csv"), "--question", "3"),
             "--question does not apply to an export of reactions.")  # fmt: skip
    _refused(engage("counts", "-o", str(out / "x.csv"), "--by", "colour"), "--by takes some of")
    _refused(engage("views", "-o", str(out / "x.pdf")), "unknown format 'pdf'")
    _refused(engage("views", "-o", str(out / "x.csv"), "--theme", "aliens"), "unknown themes")
    _refused(engage("views", "-o", str(out / "x.csv"), "--from", "2026-11-05",
                    "--to", "2026-11-01"), "wrong way round")  # fmt: skip
    _refused(engage("views", "-o", str(tmp_path / "no" / "x.csv")), "cannot write to")
    _refused(engage("views", "-o", str(out), "--format", "csv"), "it is a folder")
    with pytest.raises(SystemExit) as exited:  # argparse: not among the kind's formats
        engage("counts", "-o", str(out / "x.parquet"), "--format", "parquet")
    assert exited.value.code == 2
    assert sorted(p.name for p in out.iterdir()) == before

    with database.transaction() as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == ["export.views", "export.reactions", "export.counts"]
        assert all(e.actor.startswith("cli:") for e in events)
        assert json.loads(events[1].detail) == {
            "format": "csv", "filters": {"channel": "telegram"}, "rows": 1
        }  # fmt: skip
        counts = json.loads(events[2].detail)
        assert counts["by"] == ["theme", "month", "area"] and counts["min_count"] == 2
        assert KEY not in "".join(e.detail for e in events)


def test_conversations_from_the_command_line(
    database, tracker, conversations, engage, monkeypatch, tmp_path
):
    monkeypatch.setenv("TRACKER_DATABASE_URL", tracker.database.url)
    path = tmp_path / "talk.parquet"
    status, said, _ = engage("conversations", "-o", str(path), "--theme", "roads_transport")
    assert (status, said) == (0, f"Exported 3 turns to {path} (parquet).\n")
    _refused(engage("conversations", "-o", str(tmp_path / "talk.csv")),
             "unknown format 'csv': use --format jsonl or parquet")  # fmt: skip
    _refused(engage("conversations", "-o", str(tmp_path / "t.jsonl"), "--update", "1"),
             "--update does not apply to an export of conversations")  # fmt: skip
    assert not (tmp_path / "talk.csv").exists() and not (tmp_path / "t.jsonl").exists()
    with database.transaction() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "export.conversations"))
        assert json.loads(event.detail) == {
            "format": "parquet", "filters": {"themes": ["roads_transport"]}, "rows": 3
        }  # fmt: skip
