"""Curating views in the console: one view from its page, many from the list; who may."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from bot.models import AuditEvent, UpdateView, View
from bot.services.updates import UpdateDraft, draft_update
from tests.bot.console.conftest import csrf


def _text(reply) -> str:
    return re.sub(r"\s+", " ", reply.get_data(as_text=True))


def _legend(client) -> list[str]:
    page = _text(client.get("/"))
    return [html.unescape(key) for key in re.findall(r"</svg> ([^<]+)</li>", page)]


def _ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/views/(\d+)"', page)]


def test_analysts_see_no_curating_and_may_not_curate(signed_in, seeded, app):
    analyst = signed_in("analyst")
    page = analyst.get(f"/views/{seeded['bus_sms']}").get_data(as_text=True)
    assert "Curate this view" not in page and "Redact" not in page
    assert "Curate the picked views" not in analyst.get("/").get_data(as_text=True)
    token = csrf(analyst)
    view = seeded["bus_sms"]
    for path, data in (
        (f"/views/{view}/theme", {"theme": "housing"}),
        (f"/views/{view}/redact", {"word": "1"}),
        (f"/views/{view}/hide", {"reason": "spam"}),
        (f"/views/{view}/unhide", {}),
        (f"/views/{view}/answered", {"update": "1"}),
        ("/views/curate", {"do": "hide", "reason": "spam", "view": str(view)}),
    ):
        assert analyst.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert analyst.get(f"/views/curate?view={view}").status_code == 403
    assert app.test_client().get(f"/views/curate?view={view}").status_code == 302
    # Hidden views are for those who curate: an analyst's ?hidden=1 shows the visible ones.
    assert "Only hidden views" not in analyst.get("/").get_data(as_text=True)


def test_forms_without_the_csrf_token_are_refused(signed_in, seeded, database):
    officer = signed_in("officer")
    reply = officer.post(f"/views/{seeded['bus_sms']}/hide", data={"reason": "spam"})
    assert reply.status_code == 400
    with database.transaction() as s:
        assert s.get(View, seeded["bus_sms"]).hidden_at is None


def test_an_officer_rethemes_a_view_and_the_counts_follow(signed_in, seeded, database):
    officer = signed_in("officer")
    assert "Roads & transport: 2" in _legend(officer)
    page = _text(officer.get(f"/views/{seeded['bus_sms']}"))
    assert "Curate this view" in page and 'id="main-theme"' in page
    reply = officer.post(
        f"/views/{seeded['bus_sms']}/theme",
        data={"csrf_token": csrf(officer), "theme": "housing", "also": ["community_safety"]},
    )
    assert reply.status_code == 302 and reply.location.endswith(f"/views/{seeded['bus_sms']}")
    page = _text(officer.get(reply.location))
    assert "Theme changed: counts, exports and targeting follow it now." in page
    assert re.search(r'<dd id="view-theme">Housing, Community safety \(set by an officer on ', page)
    legend = _legend(officer)
    assert "Roads & transport: 1" in legend and "Housing: 1" in legend
    assert "Community safety: 1" in legend
    assert _ids(_text(officer.get("/?theme=housing"))) == [seeded["bus_sms"]]
    with database.transaction() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "view.retheme")).one()
        assert event.actor == "officer@council.example"
        assert event.target == f"view:{seeded['bus_sms']}"
    wrong = officer.post(
        f"/views/{seeded['bus_sms']}/theme",
        data={"csrf_token": csrf(officer), "theme": "none", "also": ["housing"]},
    )
    assert "Choose a main theme" in _text(officer.get(wrong.location))
    missing = officer.post(
        "/views/99999/theme", data={"csrf_token": csrf(officer), "theme": "none"}
    )
    assert missing.status_code == 404


def test_an_officer_redacts_words(signed_in, seeded, database):
    officer = signed_in("officer")
    view = seeded["bus_sms"]  # "the buses stop at 6"
    page = officer.get(f"/views/{view}").get_data(as_text=True)
    assert '<input type="checkbox" name="word" value="4"> 6</label>' in page
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', page)[1]
    reply = officer.post(
        f"/views/{view}/redact", data={"csrf_token": csrf(officer), "word": ["3", "4"],
                                       "digest": digest}
    )  # fmt: skip
    page = _text(officer.get(reply.location))
    assert "Redacted: 2 words replaced with [redacted]." in page
    assert '<blockquote class="view-text">the buses stop [redacted]</blockquote>' in page
    assert "Words redacted by an officer on" in page
    assert "the buses stop [redacted]" in _text(officer.get("/"))
    # The page the officer chose from is out of date now: nothing more is taken out.
    again = officer.post(
        f"/views/{view}/redact", data={"csrf_token": csrf(officer), "word": "0", "digest": digest}
    )
    assert "The view&#39;s words changed meanwhile" in _text(officer.get(again.location))
    nothing = officer.post(f"/views/{view}/redact", data={"csrf_token": csrf(officer)})
    assert "Tick the words to redact." in _text(officer.get(nothing.location))
    with database.transaction() as s:
        assert s.get(View, view).text == "the buses stop [redacted]"


def test_an_officer_hides_a_view_and_shows_it_again(signed_in, seeded, database):
    officer = signed_in("officer")
    view = seeded["bins"]
    reply = officer.post(
        f"/views/{view}/hide", data={"csrf_token": csrf(officer), "reason": "spam"}
    )
    page = _text(officer.get(reply.location))
    assert "Hidden: it is left out of counts, exports, targeting and the views list." in page
    assert 'id="hidden-state">Hidden on' in page and ": spam." in page
    assert view not in _ids(_text(officer.get("/")))
    assert "Rubbish & recycling: 1" not in _legend(officer)
    hidden = _text(officer.get("/?hidden=1"))
    assert _ids(hidden) == [view] and "1 hidden view found." in hidden
    assert "<td>spam</td>" in hidden
    analyst = _text(signed_in("analyst").get("/?hidden=1"))
    assert view not in _ids(analyst)  # not for analysts: their list stays as it was
    bad = officer.post(f"/views/{view}/hide", data={"csrf_token": csrf(officer), "reason": "x"})
    assert bad.status_code == 302
    reply = officer.post(f"/views/{view}/unhide", data={"csrf_token": csrf(officer)})
    assert "Shown again" in _text(officer.get(reply.location))
    assert view in _ids(_text(officer.get("/")))
    with database.transaction() as s:
        actions = s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("view.%"))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["view.hide", "view.unhide"]


def test_an_officer_marks_a_view_answered(signed_in, seeded, database):
    with database.transaction() as s:
        update = draft_update(
            s,
            UpdateDraft(
                title="Bins weekly", you_said="bins", we_did="Weekly rounds.", areas=["LS7"]
            ),
            created_by="officer@council.example",
        )
        update_id = update.id
    officer = signed_in("officer")
    page = _text(officer.get(f"/views/{seeded['bins']}"))
    assert f'<option value="{update_id}">#{update_id} Bins weekly (draft)</option>' in page
    reply = officer.post(
        f"/views/{seeded['bins']}/answered",
        data={"csrf_token": csrf(officer), "update": str(update_id)},
    )
    page = _text(officer.get(reply.location))
    assert f"Marked answered by update {update_id}." in page
    answered = re.search(r'<ul id="answered">.*?</ul>', page)[0]
    assert "Bins weekly</a>: a draft, not sent yet, hand-picked" in answered
    missing = officer.post(
        f"/views/{seeded['bins']}/answered", data={"csrf_token": csrf(officer), "update": "999"}
    )
    assert "There is no update 999." in _text(officer.get(missing.location))


def test_bulk_curating_the_picked_views_and_a_whole_filtered_list(signed_in, seeded, database):
    with database.transaction() as s:
        update = draft_update(
            s,
            UpdateDraft(title="Buses", you_said="buses", we_did="More buses.", themes=["housing"]),
            created_by="officer@council.example",
        )
        update_id = update.id
    officer = signed_in("officer")
    listing = _text(officer.get("/?theme=roads_transport"))
    assert 'formaction="/views/curate"' in listing
    assert "Curate all 2 of them" in listing
    assert "Curate it<" in _text(officer.get("/?channel=telegram"))  # one view, not "all 1"
    none = _text(officer.get("/?theme=roads_transport&q=zzz-no-such-words"))
    assert "Curate all" not in none and "Curate it" not in none  # nothing to curate
    picked = _text(officer.get(f"/views/curate?theme=roads_transport&view={seeded['bus_tg']}"))
    assert "Curate 1 view" in picked and _ids(picked) == [seeded["bus_tg"]]
    assert 'name="back_theme" value="roads_transport"' in picked
    every = _text(officer.get("/views/curate?all=1&theme=roads_transport"))
    assert "Curate 2 views" in every
    assert sorted(_ids(every)) == sorted([seeded["bus_sms"], seeded["bus_tg"]])
    reply = officer.post(
        "/views/curate",
        data={"csrf_token": csrf(officer), "do": "retheme", "theme": "housing",
              "view": [str(seeded["bus_sms"]), str(seeded["bus_tg"])],
              "back_theme": "roads_transport"},
    )  # fmt: skip
    assert reply.location.endswith("/?theme=roads_transport#latest")
    page = _text(officer.get(reply.location))
    assert "Re-themed 2 views." in page and "0 views found." in page
    assert "Housing: 2" in _legend(officer)
    reply = officer.post(
        "/views/curate",
        data={"csrf_token": csrf(officer), "do": "answered", "update": str(update_id),
              "view": [str(seeded["bus_sms"]), str(seeded["bus_tg"])]},
    )  # fmt: skip
    assert "Marked 2 views answered by update" in _text(officer.get(reply.location))
    reply = officer.post(
        "/views/curate",
        data={"csrf_token": csrf(officer), "do": "hide", "reason": "test",
              "view": [str(seeded["bus_sms"]), str(seeded["other"])]},
    )  # fmt: skip
    assert "Hid 2 views." in _text(officer.get(reply.location))
    assert sorted(_ids(_text(officer.get("/")))) == sorted([seeded["bins"], seeded["bus_tg"]])
    nothing = officer.post(
        "/views/curate", data={"csrf_token": csrf(officer), "do": "hide", "reason": "test"}
    )
    assert "Nothing changed: No view was chosen." in _text(officer.get(nothing.location))
    assert "tick views in the list first" in _text(officer.get("/views/curate"))
    with database.transaction() as s:
        assert (
            len(s.scalars(select(UpdateView).where(UpdateView.update_id == update_id)).all()) == 2
        )
        actions = s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.like("view.%"))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["view.retheme", "view.answered", "view.hide"]


def test_the_way_back_stays_in_the_console(signed_in, seeded):
    officer = signed_in("officer")
    reply = officer.post(
        "/views/curate",
        data={"csrf_token": csrf(officer), "do": "hide", "reason": "spam",
              "view": str(seeded["other"]), "back_q": "//evil.example/x", "back_next": "x"},
    )  # fmt: skip
    assert reply.location.startswith("/?q=%2F%2Fevil.example%2Fx")
