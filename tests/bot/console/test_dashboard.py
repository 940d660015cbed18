"""The dashboard: the weekly chart, filters, search, pagination and one view's page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from bot.models import AuditEvent
from bot.services import dashboard
from bot.services.dashboard import ViewFilter, latest_views, views_per_week
from bot.services.updates import UpdateDraft, draft_update, publish
from tests.residents import NOW, add_resident, add_view


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
    reply = client.get("/?since=2026-03-02&until=2026-03-01")
    assert "To is before From" in reply.get_data(as_text=True)  # not a bare "0 views"


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


def test_picked_views_carry_the_lists_theme_and_area_to_the_form(signed_in, seeded):
    client = signed_in("officer")
    listing = client.get("/?theme=roads_transport&area=ls6").get_data(as_text=True)
    form = re.search(r'<form method="get" action="/updates/new" id="pick-views">.*?</form>',
                     listing, re.S)[0]  # fmt: skip
    assert '<input type="hidden" name="theme" value="roads_transport">' in form
    assert '<input type="hidden" name="area" value="ls6">' in form
    # What the browser sends when two views are picked and the button is pressed.
    query = f"theme=roads_transport&area=ls6&view={seeded['bus_sms']}&view={seeded['bus_tg']}"
    page = client.get(f"/updates/new?{query}").get_data(as_text=True)
    assert re.search(r'value="roads_transport"\s+checked', page)
    assert 'id="areas" name="areas" value="LS6"' in page
    assert f'value="{seeded["bus_sms"]}, {seeded["bus_tg"]}"' in page
    unthemed = client.get("/?theme=none").get_data(as_text=True)
    assert 'name="theme" value="none"' not in unthemed  # "something else" is no theme


def test_channels_and_audit_entries_are_in_plain_words(signed_in, seeded, database):
    with database.transaction() as s:
        web = add_resident(s, "rest", "web-9", area="LS6")
        view_id = add_view(s, web, "from the web", "housing", channel="rest").id
        s.add(AuditEvent(actor="cli:root", action="user.create", target="user:9", detail="{}"))
    page = signed_in("analyst").get("/").get_data(as_text=True)
    assert "<td>web chat</td>" in page and ">web chat</option>" in page
    assert "<td>rest</td>" not in page
    view = signed_in("analyst").get(f"/views/{view_id}").get_data(as_text=True)
    assert "<dd>web chat</dd>" in view
    log = re.sub(r"\s+", " ", signed_in("admin").get("/audit").get_data(as_text=True))
    assert "<td>terminal (root)</td><td>Created an account</td><td>user:9</td><td></td>" in log
    assert "Signed in" in log and "login.success" not in log and "{}" not in log
    assert "cli:root" not in log


def test_a_view_page_shows_the_residents_other_views_and_the_updates_answering_it(
    signed_in, seeded, database
):
    client = signed_in("officer")
    page = client.get(f"/views/{seeded['bins']}").get_data(as_text=True)
    tag = re.search(r"<dt>Resident</dt><dd>(R-[0-9a-f]{8})", page)[1]
    others = re.search(r'<table id="other-views">.*?</table>', page, re.S)[0]
    assert f'href="/views/{seeded["other"]}"' in others and "I like the park" in others
    assert f"{tag} gave 1 other view" in page
    assert "No update answers this view yet." in page
    with database.transaction() as s:
        update = draft_update(
            s,
            UpdateDraft(
                title="Bins every week",
                you_said="bins are missed",
                we_did="New rounds.",
                themes=["waste_recycling"],
            ),
            created_by="officer@council.example",
        )
        publish(s, update.id)
        picked = draft_update(
            s,
            UpdateDraft(
                title="Park benches",
                you_said="the park",
                we_did="Benches.",
                view_ids=[seeded["bins"]],
            ),
            created_by="officer@council.example",
        )
        ids = update.id, picked.id
    page = re.sub(r"\s+", " ", client.get(f"/views/{seeded['bins']}").get_data(as_text=True))
    answered = re.search(r'<ul id="answered">.*?</ul>', page)[0]
    assert f'href="/updates/{ids[0]}">Bins every week</a>' in answered
    assert "it matches its themes, areas and dates; this resident was sent it" in answered
    assert f'href="/updates/{ids[1]}">Park benches</a>: a draft, not sent yet, hand-picked' in (
        answered
    )
    assert "No update answers" not in page
