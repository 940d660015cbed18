"""Composing, previewing, publishing once, and the delivery page."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bot.models import AuditEvent, OutboxMessage, Resident, Update, UpdateReaction
from bot.services.consent import opt_out
from bot.services.updates import NOT_REACHED, preview, preview_details
from tests.bot.console.conftest import csrf
from tests.residents import add_resident, add_view

FORM = {
    "title": "Later buses",
    "you_said": "buses stop too early.",
    "we_did": "From 3 March the 42 runs until 11pm.",
    "theme": "roads_transport",
    "areas": "ls6",
}


def _compose(client, **changes):
    data = {**FORM, **changes, "csrf_token": csrf(client)}
    return client.post("/updates/new", data={k: v for k, v in data.items() if v is not None})


def _draft(client) -> int:
    reply = _compose(client)
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return int(reply.headers["Location"].rsplit("/", 1)[1])


def _count(database, model, *where) -> int:
    with database.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_the_compose_page_carries_what_the_live_preview_needs(signed_in, seeded):
    page = signed_in("officer").get(f"/updates/new?view={seeded['bins']}").get_data(as_text=True)
    assert (
        'data-template="Leeds Listens: you and others told us {you_said}. {we_did} Did this help?'
        in page
    )
    assert (
        'data-template-coming="Leeds Listens: you and others told us {you_said}. Coming soon:'
        in (page)
    )
    assert 'data-max-segments="2"' in page and "sms-preview.js" in page
    assert f'value="{seeded["bins"]}"' in page and "bins not emptied" in page  # picked view
    plain = signed_in("officer").get("/updates/new").get_data(as_text=True)
    assert "bins not emptied" not in plain  # only picked views are listed


def test_preview_shows_the_exact_message_and_recipients_by_channel(signed_in, seeded, database):
    client = signed_in("officer")
    update_id = _draft(client)
    page = client.get(f"/updates/{update_id}").get_data(as_text=True)
    assert (
        "Leeds Listens: you and others told us buses stop too early. From 3 March the 42 runs "
        "until 11pm. Did this help? Reply YES or NO. Reply STOP to stop." in page
    )
    assert "Plain text: 148 characters, 1 SMS" in page and "GSM-7" not in page
    assert "written by Officer on" in page  # the officer's name, not their email
    with database.transaction() as s:
        counts = preview(s, s.get(Update, update_id))
    assert counts == {"sms": 1, "telegram": 1, "total": 2}
    recipients = re.sub(r"\s+", " ", re.search(r'<p id="recipients">(.*?)</p>', page, re.S)[1])
    assert recipients == "<strong>2</strong> residents would be told: 1 by SMS, 1 by Telegram."
    assert "Publish to 2 residents" in page
    assert "Will be told?" in page and "Told?<" not in page  # nobody is told yet
    assert _count(database, OutboxMessage) == 0  # a draft sends nothing


def test_compose_errors_are_short_and_keep_what_was_typed(signed_in, seeded, database):
    client = signed_in("officer")
    cases = [
        ({"title": ""}, "A title, what residents said and what changed are all needed."),
        ({"theme": None, "areas": ""}, "Say which themes, areas or views it answers"),
        ({"areas": "Leeds"}, "&#39;Leeds&#39; is not a postcode district like LS6."),
        ({"since": "1 March"}, "From must be a date like 2026-03-01"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "The date window ends before it starts."),
        ({"view_ids": "12, twelve"}, "Views must be view numbers"),
        ({"view_ids": "999999"}, "There is no view 999999."),
        ({"we_did": "x" * 300}, "The message must fit 2 SMS"),
        ({"we_did": "We fixed it today \U0001f642"}, "special characters such as emoji"),
    ]
    for changes, message in cases:
        reply = _compose(client, **changes)
        page = reply.get_data(as_text=True)
        assert reply.status_code == 400 and message in page, (changes, page[:2000])
        assert "Later buses" in page or changes.get("title") == ""
    assert _count(database, Update) == 0  # nothing half-written


def test_hand_picked_views_and_dates(signed_in, seeded, database):
    client = signed_in("officer")
    reply = _compose(
        client, theme=None, areas="", view_ids=f"{seeded['bins']}, {seeded['bins']}",
        since="2020-01-01", until="2030-12-31",
    )  # fmt: skip
    update_id = int(reply.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/updates/{update_id}").get_data(as_text=True)
    assert f'href="/views/{seeded["bins"]}"' in page and "1 by SMS" in page


def test_publish_twice_queues_once_with_one_audit_event(signed_in, seeded, database):
    client = signed_in("officer")
    update_id = _draft(client)
    first = client.post(f"/updates/{update_id}/publish", data={"csrf_token": csrf(client)})
    assert first.status_code == 302
    assert "Published: 2 residents will be told." in client.get(first.headers["Location"]).get_data(
        as_text=True
    )
    again = client.post(f"/updates/{update_id}/publish", data={"csrf_token": csrf(client)})
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "already published: nobody has been told twice" in page
    assert _count(database, OutboxMessage) == 2
    with database.transaction() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "update.publish")).all()
        assert [(e.actor, e.target, e.detail) for e in events] == [
            ("officer@council.example", f"update:{update_id}", '{"queued": 2}')
        ]


def test_a_draft_can_be_changed_until_it_is_published(signed_in, seeded, database):
    client = signed_in("officer")
    update_id = (
        _compose(client, view_ids=str(seeded["bins"]), since="2026-01-01", until="2026-12-31")
        .headers["Location"]
        .rsplit("/", 1)[1]
    )
    form = client.get(f"/updates/{update_id}/edit").get_data(as_text=True)
    for shown in ('value="Later buses"', "buses stop too early", 'value="LS6"',
                  'value="2026-01-01"', 'value="2026-12-31"', f'value="{seeded["bins"]}"',
                  f'action="/updates/{update_id}/edit"'):  # fmt: skip
        assert shown in form, shown
    assert re.search(r'value="roads_transport"\s+checked', form)

    edited = {"title": "Buses later", "we_did": "From 3 March the 42 runs until midnight.",
              "since": "", "until": "", "view_ids": ""}  # fmt: skip
    data = {**FORM, **edited, "csrf_token": csrf(client)}
    reply = client.post(f"/updates/{update_id}/edit", data=data)
    assert reply.status_code == 302 and reply.headers["Location"] == f"/updates/{update_id}"
    page = client.get(reply.headers["Location"]).get_data(as_text=True)
    assert "Draft saved." in page and "runs until midnight. Did this help?" in page
    with database.transaction() as s:
        update = s.get(Update, update_id)
        assert (update.title, update.since, update.until) == ("Buses later", None, None)
    assert f'href="/views/{seeded["bins"]}"' not in page  # the hand-picked view was removed

    bad = client.post(f"/updates/{update_id}/edit", data={**data, "areas": "Leeds"})
    assert bad.status_code == 400 and "not a postcode district" in bad.get_data(as_text=True)
    assert 'value="Buses later"' in bad.get_data(as_text=True)  # what was typed is kept
    with database.transaction() as s:
        assert s.get(Update, update_id).areas == '["LS6"]'  # the failed edit changed nothing

    client.post(f"/updates/{update_id}/publish", data={"csrf_token": csrf(client)})
    late = client.post(f"/updates/{update_id}/edit", data={**data, "title": "Too late"})
    assert late.status_code == 400 and "no longer be changed" in late.get_data(as_text=True)
    assert "no longer be changed" in client.get(
        client.get(f"/updates/{update_id}/edit").headers["Location"]
    ).get_data(as_text=True)
    with database.transaction() as s:
        assert s.get(Update, update_id).title == "Buses later"
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["update.edit", "update.publish"]


def test_a_draft_can_be_deleted_but_not_a_published_update(signed_in, seeded, database):
    client = signed_in("officer")
    draft = _draft(client)
    assert 'data-confirm="Delete this draft?' in client.get(f"/updates/{draft}").get_data(
        as_text=True
    )
    reply = client.post(f"/updates/{draft}/delete", data={"csrf_token": csrf(client)})
    assert reply.status_code == 302 and reply.headers["Location"] == "/updates"
    assert "Draft deleted." in client.get("/updates").get_data(as_text=True)
    assert client.get(f"/updates/{draft}").status_code == 404
    with database.transaction() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "update.delete")).one()
        assert (event.target, event.detail) == (f"update:{draft}", '{"title": "Later buses"}')

    published = _draft(client)
    client.post(f"/updates/{published}/publish", data={"csrf_token": csrf(client)})
    refused = client.post(f"/updates/{published}/delete", data={"csrf_token": csrf(client)})
    assert "no longer be changed" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert _count(database, Update) == 1 and _count(database, OutboxMessage) == 2
    page = client.get(f"/updates/{published}").get_data(as_text=True)
    assert "Delete the draft" not in page and "Change the draft" not in page
    analyst = signed_in("analyst")
    reply = analyst.post(f"/updates/{published}/delete", data={"csrf_token": csrf(analyst)})
    assert reply.status_code == 403
    assert client.post("/updates/999/delete", data={"csrf_token": csrf(client)}).status_code == 404


def test_nobody_to_tell_is_not_published(signed_in, seeded, database):
    client = signed_in("officer")
    update_id = int(_compose(client, areas="LS99").headers["Location"].rsplit("/", 1)[1])
    assert "Nobody to tell" in client.get(f"/updates/{update_id}").get_data(as_text=True)
    client.post(f"/updates/{update_id}/publish", data={"csrf_token": csrf(client)})
    with database.transaction() as s:
        assert s.get(Update, update_id).published_at is None
    assert _count(database, AuditEvent, AuditEvent.action == "update.publish") == 0


def test_delivery_counts_failures_and_reactions(signed_in, seeded, database):
    officer = signed_in("officer")
    update_id = _draft(officer)
    officer.post(f"/updates/{update_id}/publish", data={"csrf_token": csrf(officer)})
    analyst = signed_in("analyst")
    assert analyst.get(f"/updates/{update_id}/delivery.json").json == {
        "counts": {"queued": 2, "sending": 0, "sent": 0, "delivered": 0, "failed": 0,
                   "opted_out": 0, "skipped": 0},
        "total": 2, "in_flight": True,
    }  # fmt: skip
    with database.transaction() as s:
        sms, telegram = s.scalars(select(OutboxMessage).order_by(OutboxMessage.channel)).all()
        sms.status, sms.error_code = "failed", "30007"
        telegram.status = "sent"
        resident = s.get(Resident, telegram.resident_id)
        comment = add_view(s, resident, "still no bus on Sundays", "roads_transport")
        for kind, view_id in (("helped", None), ("comment", comment.id)):
            s.add(
                UpdateReaction(
                    update_id=update_id, resident_id=resident.id, outbox_id=telegram.id,
                    kind=kind, view_id=view_id, channel="telegram",
                )
            )  # fmt: skip
    data = analyst.get(f"/updates/{update_id}/delivery.json").json
    assert data["in_flight"] is False and data["counts"]["sent"] == 1
    assert data["counts"]["failed"] == 1
    page = re.sub(r"\s+", " ", analyst.get(f"/updates/{update_id}").get_data(as_text=True))
    assert "filtered the message as spam" in page and "(code 30007)" in page
    assert "It helped: <strong>1</strong>" in page and "Comments: <strong>1</strong>" in page
    assert "still no bus on Sundays" in page and "Roads &amp; transport" in page
    assert "Publish to" not in page and "delivery.js" in page
    assert "+44770090000" not in page


def test_updates_list(signed_in, seeded):
    client = signed_in("officer")
    update_id = _draft(client)
    page = signed_in("analyst").get("/updates").get_data(as_text=True)
    assert f'href="/updates/{update_id}"' in page and "Draft" in page
    assert signed_in("analyst").get("/updates/999999").status_code == 404


def test_creating_a_draft_is_audited(signed_in, seeded, database):
    client = signed_in("officer")
    refused = _compose(client, title="")  # a draft that is not saved is not audited
    assert refused.status_code == 400
    assert _count(database, AuditEvent, AuditEvent.action == "update.draft") == 0
    update_id = _draft(client)
    with database.transaction() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "update.draft")).one()
        assert (event.actor, event.target, event.remote_addr, event.detail) == (
            "officer@council.example",
            f"update:{update_id}",
            "127.0.0.1",
            '{"title": "Later buses"}',
        )
        assert s.get(Update, update_id).created_by == "officer@council.example"


def _flat(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def _unreachable_picks(database) -> dict[str, int]:
    """Views by residents who cannot be told: web chat, no contact, opted out."""
    with database.transaction() as s:
        web = add_resident(s, "rest", "web-1", area="LS6")
        quiet = add_resident(s, "sms", "+447700900020", area="LS6")
        quiet.contact_ok = False
        gone = add_resident(s, "telegram", "1020", area="LS6")
        ids = {
            "web": add_view(s, web, "call me on 07700 900123 about buses", "roads_transport",
                            channel="rest").id,
            "quiet": add_view(s, quiet, "potholes on the ring road", "roads_transport").id,
            "gone": add_view(s, gone, "more buses please", "roads_transport").id,
        }  # fmt: skip
        opt_out(s, gone, channel="telegram")
    return ids


def test_preview_shows_which_views_match_and_why_picked_residents_are_not_told(
    signed_in, seeded, database
):
    picks = _unreachable_picks(database)
    client = signed_in("officer")
    ids = ", ".join(str(i) for i in picks.values())
    update_id = int(_compose(client, areas="", view_ids=ids).headers["Location"].rsplit("/", 1)[1])
    page = _flat(client.get(f"/updates/{update_id}").get_data(as_text=True))
    assert "<strong>2</strong> residents would be told: 1 by SMS, 1 by Telegram." in page
    alert = re.search(r'<div id="picked-not-reached".*?</div>', page)[0]
    for reason in ("web_chat", "no_contact", "opted_out"):
        assert f"1 resident: {NOT_REACHED[reason]}" in alert, reason
    rows = dict(re.findall(r'<tr data-view="(\d+)">(.*?)</tr>', page))
    assert set(rows) == {str(i) for i in [*picks.values(), seeded["bus_sms"], seeded["bus_tg"]]}
    assert "picked; matches theme Roads &amp; transport" in rows[str(picks["web"])]
    assert "no: they wrote in the web chat" in rows[str(picks["web"])]
    assert "call me on [phone] about buses" in rows[str(picks["web"])]  # redacted
    assert "900123" not in page
    assert "matches theme Roads &amp; transport" in rows[str(seeded["bus_sms"])]
    assert "picked" not in rows[str(seeded["bus_sms"])]
    assert "yes, by SMS" in rows[str(seeded["bus_sms"])]
    assert "Themes</dt>" not in page  # no "Themes any, Areas all"
    with database.transaction() as s:
        details = preview_details(s, s.get(Update, update_id))
        assert details.counts == preview(s, s.get(Update, update_id))
        assert (details.views, details.picked, len(details.matches)) == (5, 3, 5)
        assert [m.view_id for m in details.matches[:3]] == sorted(
            picks.values(), key=lambda i: -i
        )  # picked first, newest first


def test_preview_of_picked_views_only_says_so_and_why_nobody_is_told(signed_in, seeded, database):
    picks = _unreachable_picks(database)
    client = signed_in("officer")
    ids = f"{picks['web']}, {picks['quiet']}"
    reply = _compose(client, theme=None, areas="", view_ids=ids)
    page = _flat(client.get(reply.headers["Location"]).get_data(as_text=True))
    assert "Only the residents of the 2 views you picked" in page
    assert "<strong>0</strong> residents would be told" in page
    assert NOT_REACHED["web_chat"] in page and NOT_REACHED["no_contact"] in page
    assert "none of the residents of the 2 views it answers can be reached" in page
    assert "Change the themes" not in page and "Publish to" not in page
