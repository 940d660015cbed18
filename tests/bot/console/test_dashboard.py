"""The dashboard: the weekly chart, filters, search, pagination and one view's page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from bot.services import dashboard
from bot.services.dashboard import ViewFilter, latest_views, views_per_week
from tests.bot.console.conftest import NOW, add_resident, add_view


def _ids(page) -> list[int]:
    return [int(n) for n in re.findall(r'href="/views/(\d+)"', page.get_data(as_text=True))]


def test_filters_and_search_return_the_right_views(signed_in, seeded):
    client = signed_in("analyst")
    everything = _ids(client.get("/"))
    assert everything == [seeded["bins"], seeded["bus_sms"], seeded["bus_tg"], seeded["other"]]
    assert _ids(client.get("/?theme=roads_transport")) == [seeded["bus_sms"], seeded["bus_tg"]]
    assert _ids(client.get("/?theme=none")) == [seeded["other"]]
    assert _ids(client.get("/?area=ls7")) == [seeded["bins"], seeded["other"]]
    assert _ids(client.get("/?channel=telegram")) == [seeded["bus_tg"]]
    assert _ids(client.get("/?q=bus")) == [seeded["bus_sms"], seeded["bus_tg"]]  # any case
    assert _ids(client.get("/?q=100%25")) == [seeded["bins"]]  # % is a character, not a wildcard
    assert _ids(client.get("/?q=_")) == []
    week_ago = (NOW - timedelta(days=7)).date().isoformat()
    assert _ids(client.get(f"/?since={week_ago}")) == [seeded["bins"], seeded["bus_sms"]]
    assert _ids(client.get(f"/?until={week_ago}")) == [seeded["bus_tg"], seeded["other"]]
    assert _ids(client.get(f"/?theme=roads_transport&since={week_ago}")) == [seeded["bus_sms"]]
    reply = client.get("/?since=yesterday")
    assert reply.status_code == 200
    assert "From must be a date like 2026-03-01" in reply.get_data(as_text=True)


def test_pagination(database, signed_in):
    with database.transaction() as s:
        person = add_resident(s, "sms", "+447700900009", area="LS6")
        ids = [add_view(s, person, f"view {n}", "housing", days_ago=n / 24).id for n in range(30)]
    with database.transaction() as s:
        first = latest_views(s, ViewFilter(theme="housing"), page=1, per_page=25)
        second = latest_views(s, ViewFilter(theme="housing"), page=2, per_page=25)
        beyond = latest_views(s, ViewFilter(theme="housing"), page=9, per_page=25)
    assert first.total == 30 and first.pages == 2
    assert [r.id for r in first.rows + second.rows] == ids
    assert beyond.page == 2
    page = signed_in("analyst").get("/?theme=housing&page=2").get_data(as_text=True)
    assert "page 2 of 2" in page and "theme=housing" in page


def test_views_per_week_by_theme(database, seeded):
    with database.transaction() as s:
        counts = views_per_week(s, weeks=12)
    assert len(counts.weeks) == 12 and counts.weeks[-1].weekday() == 0
    assert sum(counts.by_theme["roads_transport"]) == 2
    assert counts.by_theme["waste_recycling"][-1] == 1
    assert sum(counts.by_theme[None]) == 1


def test_week_buckets_start_on_monday(database):
    monday = datetime(2026, 3, 2, tzinfo=timezone.utc)
    with database.transaction() as s:
        person = add_resident(s, "sms", "+447700900010")
        for when in (monday - timedelta(seconds=1), monday, monday + timedelta(days=6)):
            add_view(s, person, "x", "housing").created_at = when
    with database.transaction() as s:
        counts = views_per_week(s, weeks=2, now=monday + timedelta(days=2))
    assert counts.by_theme["housing"] == [1, 2]


def test_the_dashboard_draws_the_chart_without_script(signed_in, seeded):
    page = signed_in("analyst").get("/").get_data(as_text=True)
    assert "<svg" in page and "Roads &amp; transport: 2</li>" in page
    assert page.count("<rect") >= 3
    assert "<script>" not in page and "style=" not in page  # CSP: no inline script or style


def test_a_view_page_hides_the_resident(signed_in, seeded, database):
    page = signed_in("analyst").get(f"/views/{seeded['bus_sms']}").get_data(as_text=True)
    assert "the buses stop at 6" in page and "LS6" in page and "90% sure" in page
    assert "+44770090000" not in page and "R-" in page
    assert "Write an update" not in page  # analysts do not compose
    assert signed_in("analyst").get("/views/999999").status_code == 404
    assert "Write an update" in signed_in("officer").get(f"/views/{seeded['bus_sms']}").get_data(
        as_text=True
    )


def test_text_is_escaped(database, signed_in):
    with database.transaction() as s:
        person = add_resident(s, "sms", "+447700900011")
        add_view(s, person, "<script>alert(1)</script>", "housing")
    page = signed_in("analyst").get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_resident_tags_are_stable_and_opaque():
    assert dashboard.resident_tag("abc") == dashboard.resident_tag("abc")
    assert dashboard.resident_tag("abc") != dashboard.resident_tag("abd")
    assert "abc" not in dashboard.resident_tag("abc")
