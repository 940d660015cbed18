"""Exporting views: pseudonymised, redacted, Excel-safe CSV and typed JSON Lines, filtered,
all or nothing, audited; bad input gets one line and no file."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from bot.exports import ExportError, ExportFilter, export_views, format_of, view_rows
from bot.models import AuditEvent
from bot.pseudonyms import NoPseudonymKey, pseudonym
from tests.bot.exports.support import DAY, KEY


def _export(database, tmp_path, fmt="csv", **filters):
    path = tmp_path / f"views.{fmt}"
    with database.transaction() as s:
        count = export_views(s, path, fmt, ExportFilter.checked(**filters), KEY, "cli:test")
    return path, count


def test_csv_for_excel(database, views, tmp_path):
    path, count = _export(database, tmp_path)
    raw = path.read_bytes()
    assert count == 3 and raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["resident"] for r in rows] == [
        pseudonym(views["jo"], KEY), pseudonym(views["ann"], KEY), pseudonym(views["ann"], KEY)
    ]  # fmt: skip
    first, second, third = rows
    assert first["text"] == "call me on [phone], trams late and dog mess at [address]"
    assert first["themes"] == "roads_transport;waste_recycling"
    assert (first["theme_label"], first["area"], first["created_at"]) == (
        "Roads & transport", "LS6", "2026-11-02T10:00:00+00:00"
    )  # fmt: skip
    assert second["text"].startswith("'=HYPERLINK")  # never run as a formula
    assert (
        third["text"] == "mae angen mwy o fysiau ŵ ŷ 🙂"
        and third["theme_label"] == "Something else"
    )
    assert "+447700900123" not in raw.decode("utf-8-sig") and "4242" not in raw.decode("utf-8-sig")
    assert raw.count(b"\r\n") == 4  # RFC 4180 line ends


def test_jsonl_keeps_types_and_unicode(database, views, tmp_path):
    path, _ = _export(database, tmp_path, fmt="jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["confidence"] == pytest.approx(0.8) and rows[0]["rating"] is None
    assert rows[2]["text"] == "mae angen mwy o fysiau ŵ ŷ 🙂"


def test_filters(database, views, tmp_path):
    assert _export(database, tmp_path, themes=["waste_recycling"])[1] == 2  # either theme
    assert _export(database, tmp_path, areas=["ls6"])[1] == 1
    assert _export(database, tmp_path, channel="telegram")[1] == 2
    later = _export(database, tmp_path, since=DAY.replace(day=3), until=DAY.replace(day=4))
    assert later[1] == 1


def test_the_export_is_audited_without_personal_data(database, views, tmp_path):
    _export(database, tmp_path, themes=["housing"])
    with database.transaction() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "export.views")).all()
        detail = json.loads(event.detail)
        assert detail == {"format": "csv", "filters": {"themes": ["housing"]}, "rows": 0}
        assert event.actor == "cli:test"


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"themes": ["aliens"]}, "unknown themes: aliens"),
        ({"areas": ["nowhere"]}, "is not a postcode district"),
        ({"since": DAY, "until": DAY.replace(day=1)}, "wrong way round"),
        ({"channel": "fax"}, "sms or telegram"),
    ],
)
def test_bad_filters_are_refused_in_one_line(filters, message):
    with pytest.raises(ExportError, match=message):
        ExportFilter.checked(**filters)


def test_no_key_no_file_and_no_partial_file(database, views, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "views.csv"
    with database.transaction() as s, pytest.raises(NoPseudonymKey):
        export_views(s, path, "csv", ExportFilter(), "", "cli:test")
    assert list(folder.iterdir()) == []  # no file, and no half-written one beside it
    with pytest.raises(ExportError, match="cannot write"), database.transaction() as s:
        export_views(s, tmp_path / "no" / "such" / "x.csv", "csv", ExportFilter(), KEY, "t")
    with pytest.raises(ExportError, match="unknown format"):
        format_of(tmp_path / "views.pdf", None)
    assert format_of(tmp_path / "views.JSONL", None) == "jsonl"


def test_rows_stream_in_batches(database, views, monkeypatch):
    import bot.exports.views

    monkeypatch.setattr(bot.exports.views, "BATCH", 2)
    with database.transaction() as s:
        assert len(list(view_rows(s, ExportFilter(), KEY))) == 3


def test_the_cli(database, views, tmp_path, monkeypatch, capsys):
    from bot import cli
    from bot.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("EXPORT_PSEUDONYM_KEY", KEY)
    get_settings.cache_clear()
    monkeypatch.setattr("bot.db._default", database)
    try:
        out = tmp_path / "v.csv"
        assert cli.main(["export", "views", "-o", str(out), "--theme", "waste_recycling"]) == 0
        assert "Exported 2 views" in capsys.readouterr().out
        one_day = ["--from", "2026-11-03", "--to", "2026-11-03"]  # the last day is included
        assert cli.main(["export", "views", "-o", str(out), *one_day]) == 0
        assert "Exported 1 view to" in capsys.readouterr().out
        assert (
            cli.main(["export", "views", "-o", str(tmp_path / "x.csv"), "--from", "2026-13-01"])
            == 2
        )
        assert "dates look like" in capsys.readouterr().err
        monkeypatch.setenv("EXPORT_PSEUDONYM_KEY", "")
        get_settings.cache_clear()
        assert cli.main(["export", "views", "-o", str(tmp_path / "y.csv")]) == 2
        assert "EXPORT_PSEUDONYM_KEY" in capsys.readouterr().err
        assert not (tmp_path / "y.csv").exists()
    finally:
        get_settings.cache_clear()


def test_a_failure_half_way_leaves_no_file(database, views, tmp_path, monkeypatch):
    import bot.exports.views

    folder = tmp_path / "out"
    folder.mkdir()
    calls = []

    def failing(text: str) -> str:
        calls.append(text)
        if len(calls) == 2:
            raise RuntimeError("disk gone")
        return text

    monkeypatch.setattr(bot.exports.views, "redact", failing)
    # Views keep their redacted text: under other rules the export redacts them itself.
    monkeypatch.setattr(bot.exports.views, "REDACTION_VERSION", -1)
    with database.transaction() as s, pytest.raises(RuntimeError):
        export_views(s, folder / "views.csv", "csv", ExportFilter(), KEY, "cli:test")
    assert list(folder.iterdir()) == []


def test_a_filter_made_directly_is_audited_as_it_is(database, views, tmp_path):
    """The audit describes the filter itself, however it was made (not only `checked`)."""
    wanted = ExportFilter(themes=("waste_recycling",), channel="telegram")
    with database.transaction() as s:
        assert export_views(s, tmp_path / "v.csv", "csv", wanted, KEY, "cli:test") == 1
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "export.views")).all()
        assert json.loads(event.detail)["filters"] == {
            "themes": ["waste_recycling"], "channel": "telegram"
        }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "exported"),
    [
        ('=HYPERLINK("http://evil") more bins', '=HYPERLINK("[url]") more bins'),
        ("(see www.example.com).", "(see [url])."),
        ("go to https://example.org/a?b=1, then", "go to [url], then"),
    ],
)
def test_a_redacted_address_keeps_the_punctuation_after_it(text, exported):
    from bot.redaction import redact

    assert redact(text) == exported


def _files(database, tmp_path) -> dict[str, bytes]:
    """The views as CSV (made line by line) and as JSON Lines (from `view_rows`); the CSV
    is checked against `write_csv` writing `view_rows`, byte for byte."""
    from bot.exports import VIEW_COLUMNS
    from bot.exports.formats import write_csv
    from tests.bot.exports.support import run_export

    files = {}
    for fmt in ("csv", "jsonl"):
        run_export(database, tmp_path / f"views.{fmt}", "views", fmt)
        files[fmt] = (tmp_path / f"views.{fmt}").read_bytes()
    by_module = io.BytesIO()
    with database.transaction() as s:
        write_csv(view_rows(s, ExportFilter(), KEY), VIEW_COLUMNS, by_module)
    assert by_module.getvalue() == files["csv"]
    return files


def test_stored_redactions_stale_ones_and_none_give_the_same_files(database, golden, tmp_path):
    """Views keep their redacted text with the rules' version; the export uses it only when
    it is today's version, and redacts the text again otherwise: the same bytes either way."""
    from sqlalchemy import update

    from bot.models import View
    from bot.redaction import REDACTION_VERSION

    stored = _files(database, tmp_path)
    with database.transaction() as s:  # as views written before migration 0012
        s.execute(update(View).values(text_redacted=None, redaction_version=None))
    assert _files(database, tmp_path) == stored
    with database.transaction() as s:  # as views redacted under older rules
        stale = {"text_redacted": "STALE", "redaction_version": REDACTION_VERSION - 1}
        s.execute(update(View).values(**stale))
    assert _files(database, tmp_path) == stored
    with database.transaction() as s:  # today's version: what is stored is what is exported
        first = s.scalars(select(View.id).order_by(View.id)).first()
        s.execute(
            update(View)
            .where(View.id == first)
            .values(text_redacted="STORED", redaction_version=REDACTION_VERSION)
        )
    files = _files(database, tmp_path)
    assert b"STORED" in files["csv"] and b"STORED" in files["jsonl"]
    assert b"STALE" not in files["csv"]
    if database.url.startswith("sqlite"):  # a time SQLite holds in another form than its own
        with database.engine.begin() as connection:
            connection.exec_driver_sql(
                f"UPDATE views SET created_at = '2026-11-02 10:00:00' WHERE id = {first}"
            )
        assert _files(database, tmp_path) == files


def test_themes_in_their_order_and_a_view_on_two_updates_twice(database, golden, tmp_path):
    """The themes come in their rank's order, whatever order the database gives the rows;
    a view that comments on two updates is a row for each, as before."""
    from bot.models import OutboxMessage, UpdateReaction, View, ViewTheme

    with database.transaction() as s:
        comment = s.scalars(select(UpdateReaction).where(UpdateReaction.view_id.is_not(None))).one()
        other = OutboxMessage.id != comment.outbox_id
        outbox = s.scalars(select(OutboxMessage).where(other)).first()
        s.add(UpdateReaction(update_id=comment.update_id, resident_id=comment.resident_id,
                             outbox_id=outbox.id, kind="comment", view_id=comment.view_id,
                             channel="telegram"))  # fmt: skip
        s.add_all([
            ViewTheme(view_id=comment.view_id, theme_key="housing", rank=2),
            ViewTheme(view_id=comment.view_id, theme_key="roads_transport", rank=1),
        ])  # fmt: skip
        first = s.scalars(select(View.id).order_by(View.id)).first()
        s.add(ViewTheme(view_id=first, theme_key="community_safety", rank=5))
    files = _files(database, tmp_path)
    lines = files["csv"].decode("utf-8-sig").split("\r\n")
    assert len(lines) == 1 + 6 + 1 and lines[-2] == lines[-3]
    assert ",waste_recycling;roads_transport;housing," in lines[-2]
    assert ",roads_transport;waste_recycling;community_safety," in lines[1]
    records = [json.loads(line) for line in files["jsonl"].decode().splitlines()]
    assert [r["themes"] for r in records[-2:]] == ["waste_recycling;roads_transport;housing"] * 2
    with database.transaction() as s:
        assert len(list(view_rows(s, ExportFilter(), KEY))) == 6
