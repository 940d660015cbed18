"""The Loop page: every role from analyst, the largest unanswered concerns first, the
dashboard's link to it."""

from __future__ import annotations

import re

from sqlalchemy import update as update_rows

from bot.models import OutboxMessage
from bot.services.updates import UpdateDraft, draft_update, publish


def _text(reply) -> str:
    return re.sub(r"\s+", " ", reply.get_data(as_text=True))


def test_every_role_sees_the_loop_and_the_dashboard_links_to_it(app, signed_in, seeded):
    assert app.test_client().get("/loop").status_code == 302  # to the sign-in page
    for role in ("analyst", "officer", "admin"):
        client = signed_in(role)
        assert client.get("/loop").status_code == 200
        dashboard = _text(client.get("/"))
        assert '<a href="/loop">the loop, by theme and district</a>' in dashboard
        assert '<li><a href="/loop">Loop</a></li>' in dashboard


def test_the_largest_concern_nobody_was_told_about_comes_first(signed_in, seeded, database):
    page = _text(signed_in("analyst").get("/loop"))
    unanswered = re.search(r'<ul id="unanswered">.*?</ul>', page)[0]
    first = re.search(r"<li>(.*?)</li>", unanswered)[1]
    assert first.startswith("2 residents in LS6 spoke about roads &amp; transport since ")
    assert first.endswith("; nobody has been told anything.")  # no "Write an update" link
    rows = re.findall(r"<tr title=\"([^\"]+)\">", page)
    assert len(rows) == 2 and "something else" not in page.lower().split("<table")[1]
    assert "Write an update" in _text(signed_in("officer").get("/loop"))
    with database.transaction() as s:
        update = draft_update(
            s,
            UpdateDraft(
                title="Later buses",
                you_said="buses stop early",
                we_did="The 42 runs later.",
                themes=["roads_transport"],
            ),
            created_by="officer@council.example",
        )
        publish(s, update.id)
        s.execute(
            update_rows(OutboxMessage).values(status="sent", sent_at=OutboxMessage.created_at)
        )
    page = _text(signed_in("analyst").get("/loop"))
    table = re.search(r'<table id="loop">.*?</table>', page)[0]
    cells = re.findall(r"<tr title=.*?</tr>", table)
    assert "Rubbish &amp; recycling" in cells[0] and "<strong>nobody</strong>" in cells[0]
    assert "Roads &amp; transport" in cells[1] and "<td>2 (100%)</td>" in cells[1]
    assert ">Later buses</a>," in cells[1]
    narrowed = _text(signed_in("analyst").get("/loop?theme=waste_recycling&area=ls7"))
    assert len(re.findall(r"<tr title=", narrowed)) == 1
    assert "No views in the last 90 days for this theme and district." in _text(
        signed_in("analyst").get("/loop?area=LS9")
    )
