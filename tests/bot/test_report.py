"""The engagement report: right numbers, suppressed like the counts export, nothing personal
or fetched in the page, written all or nothing, audited; bad input gets one line and no file.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.exports import ExportError, ExportFilter
from bot.models import AuditEvent, OutboxMessage, UpdateReaction
from bot.report import (
    HIDDEN,
    describe,
    gather_report,
    period_text,
    render_report,
    write_atomically,
    write_report,
)
from bot.services.checkins import QuestionDraft, add_question
from bot.services.consent import record_consent
from bot.services.identities import resident_for
from bot.services.updates import UpdateDraft, draft_update, publish
from bot.services.views import set_area, store_view

MINIMUM = 3  # small, so a few residents are enough to publish a cell
SEP, OCT = (
    datetime(2026, 9, 10, 9, tzinfo=timezone.utc),
    datetime(2026, 10, 10, 9, tzinfo=timezone.utc),
)
PERIOD = {"since": datetime(2026, 9, 1, tzinfo=timezone.utc),
          "until": datetime(2026, 12, 1, tzinfo=timezone.utc)}  # fmt: skip
SECRET = "ring me on 07700 900123, I live at 12 Fern Street"
CHAT_ID = "8675309123"
NOW = datetime(2026, 12, 2, 10, 30, tzinfo=timezone.utc)


@pytest.fixture
def seeded(database):
    """Twelve residents in four districts, ratings, and one update with its replies.

    Views (theme by month, with districts):
      roads     Sep 4 (r1-r4, LS6)   Oct 3 (r5-r7, LS7)
      waste     Sep 3 (r1-r3, LS6: the same views as roads)   Oct 4 (r5-r8, LS7)
      housing   Oct 1 (r9, LS8): too small, and so is LS8
      parks     Oct 3 (r10-r12, LS9): hidden too, so that housing cannot be worked out
    """
    with database.transaction() as s:
        people = []
        for i in range(1, 13):
            telegram = i == 12
            r = resident_for(s, "telegram" if telegram else "sms",
                             CHAT_ID if telegram else f"+4477009{i:05d}")  # fmt: skip
            record_consent(s, r, given=True, wording="w", channel="sms")
            set_area(s, r, "LS6" if i <= 4 else "LS7" if i <= 8 else "LS8" if i == 9 else "LS9")
            people.append(r)

        def view(r, theme, at, also=(), **extra):  # type: ignore[no-untyped-def]
            v = store_view(s, r, text=SECRET, theme_key=theme, confidence=0.9,
                           channel="sms", also=also, **extra)  # fmt: skip
            v.created_at = at
            return v

        for r in people[0:3]:
            view(r, "roads_transport", SEP, also=[("waste_recycling", 0.6)])
        view(people[3], "roads_transport", SEP)
        for r in people[4:7]:
            view(r, "roads_transport", OCT)
        for r in people[4:8]:
            view(r, "waste_recycling", OCT)
        view(people[8], "housing", OCT)
        for r in people[9:12]:
            view(r, "parks_green_spaces", OCT)
        view(people[0], "housing", datetime(2026, 8, 1, tzinfo=timezone.utc))  # before

        question = add_question(
            s,
            QuestionDraft(
                wording="How safe do you feel? 1 not at all, 5 very", kind="scale", starts_at=SEP
            ),
        )
        for r, rating in zip(people[0:7], (4, 4, 4, 5, 5, 5, 1), strict=True):
            view(r, None, OCT, question_id=question.id, rating=rating)
        view(people[7], None, datetime(2026, 12, 5, tzinfo=timezone.utc),
             question_id=question.id, rating=2)  # fmt: skip

        update = draft_update(
            s,
            UpdateDraft(
                title="Potholes <fixed> & filled",
                you_said="the roads are bad",
                we_did="we filled the potholes",
                themes=["roads_transport"],
            ),
            created_by="officer",
        )
        publish(s, update.id, now=datetime(2026, 10, 20, tzinfo=timezone.utc))
        rows = {row.resident_id: row for row in s.scalars(select(OutboxMessage))}
        statuses = ["delivered"] * 3 + ["sent"] * 2 + ["failed", "queued"]
        for r, status in zip(people[0:7], statuses, strict=True):
            rows[r.id].status = status
        for r, kind in zip(people[0:5], ("helped",) * 3 + ("not_helped", "comment"), strict=True):
            s.add(UpdateReaction(update_id=update.id, resident_id=r.id,
                                 outbox_id=rows[r.id].id, kind=kind, channel="sms"))  # fmt: skip
        later = draft_update(
            s,
            UpdateDraft(
                title="New benches",
                you_said="more benches",
                we_did="we put benches in",
                themes=["parks_green_spaces"],
            ),
            created_by="officer",
        )
        publish(s, later.id, now=datetime(2026, 12, 5, tzinfo=timezone.utc))
        draft_update(
            s,
            UpdateDraft(title="Not yet", you_said="x", we_did="y", themes=["housing"]),
            created_by="o",
        )
        return {"update": update.id, "question": question.id,
                "conversations": [r.conversation_id for r in people]}  # fmt: skip


def _gather(database, minimum=MINIMUM, **filters):
    with database.transaction() as s:
        return gather_report(
            s, ExportFilter.checked(**filters), minimum=minimum, org_name="Leeds Listens",
            now=NOW, timezone_name="Europe/London",
        )  # fmt: skip


def _series(report):
    return {t.key: (t.months, t.total) for t in report.theme_months.themes}


def test_the_numbers(database, seeded):
    report = _gather(database, **PERIOD)
    assert report.summary.views == 15  # 18 theme cells: three views are about two themes
    assert (report.summary.residents, report.summary.updates, report.summary.themes) == (12, 1, 4)
    months = report.theme_months
    assert months.months == ("2026-09", "2026-10", "2026-11")
    series = _series(report)
    assert series["roads_transport"] == ((4, 3, 0), 7)
    assert series["waste_recycling"] == ((3, 4, 0), 7)
    assert (months.totals, months.total) == ((7, 11, 0), 18)
    assert [t.key for t in months.themes][:2] == ["roads_transport", "waste_recycling"]
    areas = {a.area: a for a in report.areas}
    assert [a.area for a in report.areas] == ["LS6", "LS7", "LS8", "LS9"]
    assert areas["LS6"].views == 7
    assert areas["LS6"].top == (("roads_transport", 4), ("waste_recycling", 3))
    assert areas["LS7"].top == (("waste_recycling", 4), ("roads_transport", 3))

    [scale] = report.scales  # the December answer is outside the period
    assert (scale.question_id, scale.answers, scale.mean) == (seeded["question"], 7, 4.0)

    [update] = report.updates  # the December one and the draft are not in it
    assert update.title == "Potholes <fixed> & filled"
    assert (update.residents, update.sent, update.delivered, update.helped) == (7, 5, 3, 3)

    loops = {r.key: r for r in report.loops}
    roads = loops["roads_transport"]
    assert (roads.spoke, roads.told, roads.answered, roads.helped) == (7, 5, 4, 3)
    assert roads.told_share == pytest.approx(5 / 7) and roads.helped_share == pytest.approx(0.75)
    assert (loops["waste_recycling"].spoke, loops["waste_recycling"].told) == (7, 0)
    assert loops["community_safety"].spoke == 0


def test_small_numbers_are_hidden_and_so_is_what_would_give_them_away(database, seeded):
    report = _gather(database, **PERIOD)
    series = _series(report)
    assert series["housing"] == ((0, HIDDEN, 0), HIDDEN)  # 1 resident: primary
    # Parks has 3 (publishable) but is hidden: else October's total minus the others, or
    # the grand total minus the theme totals, would give housing's 1 away.
    assert series["parks_green_spaces"] == ((0, HIDDEN, 0), HIDDEN)
    areas = {a.area: a for a in report.areas}
    assert areas["LS8"].views == HIDDEN and areas["LS9"].views == HIDDEN  # 1, then 3
    assert areas["LS9"].top == ()

    [scale] = report.scales  # 1:1 is small; 4:3 is hidden so 7 - 3 - 3 cannot reveal it
    assert scale.distribution == (HIDDEN, 0, 0, HIDDEN, 3)

    [update] = report.updates
    assert (update.not_helped, update.comments) == (HIDDEN, HIDDEN)
    loops = {r.key: r for r in report.loops}
    assert loops["housing"].spoke == HIDDEN
    assert loops["parks_green_spaces"].spoke == HIDDEN  # its views total is hidden
    assert loops["parks_green_spaces"].told_share is None

    stricter = _gather(database, minimum=8, **PERIOD)
    assert stricter.summary.views == 15 and stricter.summary.residents == 12
    [scale] = stricter.scales
    assert (scale.answers, scale.mean) == (HIDDEN, None)  # no mean without its count
    roads = {r.key: r for r in stricter.loops}["roads_transport"]
    assert roads.told == HIDDEN and roads.told_share is None and roads.helped_share is None


def test_the_page_shows_published_numbers_and_nothing_personal(database, seeded):
    page = render_report(_gather(database, **PERIOD))
    assert "Leeds Listens" in page and "1 September 2026 to 30 November 2026" in page
    assert "Potholes &lt;fixed&gt; &amp; filled" in page and "<fixed>" not in page
    assert "How safe do you feel? 1 not at all, 5 very" in page
    assert "A number from 1 to 2" in page  # the footnote explains `*`
    assert "Generated 2 December 2026 at 10:30 (Europe/London)" in page
    assert re.search(r'<td class="num"><span class="star">\*</span></td>', page)
    assert "<svg" in page and "<title" in page and "<table>" in page
    # Every section has a heading and one sentence saying what it is.
    assert page.count('<p class="lede">') == 6

    # No resident's words, number or chat id, and nothing to run or fetch.
    page += render_report(_gather(database))
    for secret in ("07700", "900123", "Fern Street", "+44", CHAT_ID, *seeded["conversations"]):
        assert secret not in page
    lowered = page.lower()
    assert "<script" not in lowered and "http://" not in lowered and "https://" not in lowered
    assert not re.search(r"(src|href)\s*=", lowered)
    assert "@import" not in lowered and "url(" not in lowered.replace("url(#hatch)", "")


def test_filters_and_all_time(database, seeded):
    everything = _gather(database)
    assert everything.summary.views == 16  # August's view too
    assert len(everything.updates) == 2  # and December's update
    assert period_text(None, None) == "All time"
    roads = _gather(database, themes=["roads_transport"], **PERIOD)
    assert [t.key for t in roads.theme_months.themes] == ["roads_transport"]
    assert roads.summary.views == 7 and roads.scales == ()  # the question is for everyone
    assert [r.key for r in roads.loops] == ["roads_transport"]
    ls7 = _gather(database, areas=["ls7"], **PERIOD)
    assert [a.area for a in ls7.areas] == ["LS7"] and ls7.summary.residents == 4
    with pytest.raises(ExportError, match="--question does not apply"):
        _gather(database, question_id=1)

    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    empty = _gather(database, since=start, until=start + timedelta(days=31))
    assert (empty.summary.views, empty.summary.residents, empty.summary.updates) == (0, 0, 0)
    page = render_report(empty)
    assert "No views in this period." in page and "No updates were published" in page


def test_written_all_or_nothing_and_audited(database, seeded, tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    with database.transaction() as s:
        report = write_report(
            s, ExportFilter.checked(**PERIOD), path, actor="cli:test", minimum=MINIMUM,
            org_name="Leeds Listens", now=NOW,
        )  # fmt: skip
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert describe(report, path) == f"Wrote {path} (views 15, 4 themes, 1 update)."
    with database.transaction() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "report")).all()
        assert event.actor == "cli:test"
        detail = json.loads(event.detail)
        assert detail["filters"] == {"from": "2026-09-01T00:00:00+00:00",
                                     "to": "2026-12-01T00:00:00+00:00"}  # fmt: skip
        assert detail["min_count"] == MINIMUM and detail["updates"] == 1

    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ExportError, match="cannot write"):
        write_atomically(tmp_path / "no" / "such" / "r.html", "x")

    def broken(source, target):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bot.report.write.os.replace", broken)
    with pytest.raises(ExportError, match="No space left"):
        write_atomically(folder / "r.html", "x" * 100_000)
    assert list(folder.iterdir()) == []  # no file, and no half-written one beside it


def test_the_cli(database, seeded, tmp_path, monkeypatch, capsys):
    from bot import cli
    from bot.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("EXPORT_MIN_COUNT", str(MINIMUM))
    monkeypatch.setenv("ORG_NAME", "Kirklees Listens")
    get_settings.cache_clear()
    monkeypatch.setattr("bot.db._default", database)
    try:
        out = tmp_path / "report.html"
        period = ["--from", "2026-09-01", "--to", "2026-11-30"]  # the last day is included
        assert cli.main(["report", *period, "-o", str(out)]) == 0
        assert capsys.readouterr().out == f"Wrote {out} (views 15, 4 themes, 1 update).\n"
        assert "Kirklees Listens" in out.read_text(encoding="utf-8")
        with database.transaction() as s:
            [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "report")).all()
            assert event.actor.startswith("cli:")
            assert json.loads(event.detail)["filters"]["to"] == "2026-12-01T00:00:00+00:00"
        assert cli.main(["report", "-o", str(out), "--theme", "housing"]) == 0
        assert "(views *, 1 theme, 0 updates)" in capsys.readouterr().out  # 2 is too few

        bad = [
            (["--from", "2026-11-30", "--to", "2026-09-01"], "wrong way round"),
            (["--from", "2026-13-01"], "dates look like"),
            (["--theme", "aliens"], "unknown themes: aliens"),
            (["--area", "nowhere"], "is not a postcode district"),
            (["--update", "1"], "--update does not apply"),
        ]
        for args, message in bad:
            target = tmp_path / "bad.html"
            assert cli.main(["report", *args, "-o", str(target)]) == 2
            err = capsys.readouterr().err
            assert err.startswith("Not written: ") and message in err and err.count("\n") == 1
            assert not target.exists()
        assert cli.main(["report", "-o", str(tmp_path / "no" / "such" / "r.html")]) == 2
        assert "Not written: cannot write to" in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".html") == ["report.html"]
    finally:
        get_settings.cache_clear()
