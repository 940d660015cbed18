"""The Residents' requests page: admins only; find by number or chat id (audited, never
echoed or logged), download everything as JSON, and erase after typing ERASE."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace

import pytest
from sqlalchemy import select, text

from bot.console import EXTENSION, create_app
from bot.db import Database
from bot.models import AuditEvent, Resident
from tests.bot.console.conftest import csrf, sign_in
from tests.residents import (
    CHAT,
    OTHER_PHONE,
    OTHER_WORDS,
    PHONE,
    WORDS,
    add_resident,
    everything,
    short_conversation,
    two_residents,
)  # fmt: skip
from tests.tracker import tracker_store_for

KEY = "console-dnc-test-key"
ADMIN = "admin@council.example"


@pytest.fixture
def settings(settings, database):
    """The shared settings, with Rasa's tracker store in the test database."""
    return replace(settings, tracker_database_url=database.url, do_not_contact_key=KEY)


@pytest.fixture
def jo(database, tracker):
    """A resident on SMS and Telegram with two views and a conversation; and someone else."""
    return two_residents(database, tracker)


@pytest.fixture
def admin(signed_in):
    """A client signed in as an admin."""
    return signed_in("admin")


def _find(client, typed: str, channel: str = "sms"):
    return client.post(
        "/residents", data={"channel": channel, "address": typed, "csrf_token": csrf(client)}
    )


def _erase(client, resident_id: int, word: str = "ERASE"):
    return client.post(
        f"/residents/{resident_id}/erase", data={"confirm": word, "csrf_token": csrf(client)}
    )


def _events(database, action: str = "resident.") -> list[AuditEvent]:
    with database.transaction() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.like(f"{action}%"))
                .order_by(AuditEvent.id)
            )
        )


def _error(reply) -> str:
    [line] = re.findall(r'<p class="error" role="alert" id="form-error">(.*)</p>', reply.text)
    return line


def _without_input(page: str, typed: str) -> str:
    """The page without the search box's value, which alone may hold what was typed."""
    box = f'name="address" value="{typed}"'
    assert page.count(box) == 1
    return page.replace(box, "")


def test_only_admins_may_open_it(signed_in, app, jo, database):
    for role in ("analyst", "officer"):
        client = signed_in(role)
        assert client.get("/residents").status_code == 403
        assert "Residents' requests</a>" not in client.get("/").text
        assert _find(client, PHONE).status_code == 403
        export = client.post(f"/residents/{jo['jo']}/export", data={"csrf_token": csrf(client)})
        assert export.status_code == 403
        assert _erase(client, jo["jo"]).status_code == 403
    anonymous = app.test_client().get("/residents")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    page = signed_in("admin").get("/residents")
    assert page.status_code == 200
    assert 'href="/residents">Residents\' requests</a>' in page.text
    assert 'name="address" value=""' in page.text and 'name="csrf_token"' in page.text
    assert 'id="found"' not in page.text  # no one found yet: nothing to download or erase
    assert _events(database) == []
    with database.transaction() as s:
        assert s.get(Resident, jo["jo"]) is not None


@pytest.mark.parametrize(
    "typed", ["07700 900456", "+44 7700 900456", "00447700900456", "(07700) 900-456", PHONE]
)
def test_find_by_any_spelling_of_the_number(admin, jo, database, caplog, typed):
    caplog.set_level(logging.DEBUG)
    reply = _find(admin, typed)
    assert reply.status_code == 200
    assert f'<h2 id="found-heading">Resident {jo["jo"]}</h2>' in reply.text
    for fact in ("<dd>SMS, Telegram</dd>", "<dd>Given</dd>", "<dd>LS6</dd>", "<dd>Monthly</dd>",
                 "<dd>2</dd>", "Download everything (JSON)", "docs/PRIVACY.md"):  # fmt: skip
        assert fact in reply.text
    assert "<td>Roads &amp; transport</td><td>1</td>" in reply.text
    assert "<td>Rubbish &amp; recycling</td><td>1</td>" in reply.text
    assert "It cannot be undone" in reply.text
    rest = _without_input(reply.text, typed)
    assert "900456" not in rest and CHAT not in rest and "potholes" not in rest
    assert "900456" not in caplog.text
    [event] = _events(database)
    assert (event.action, event.actor, event.remote_addr) == ("resident.find", ADMIN, "127.0.0.1")
    assert event.target == f"resident:{jo['jo']}"
    assert json.loads(event.detail) == {"channel": "sms", "found": True}


def test_find_by_chat_id(admin, jo, database):
    reply = _find(admin, f" {CHAT} ", channel="telegram")
    assert reply.status_code == 200
    assert f"Resident {jo['jo']}</h2>" in reply.text
    assert CHAT not in _without_input(reply.text, f" {CHAT} ")
    [event] = _events(database)
    assert json.loads(event.detail) == {"channel": "telegram", "found": True}


@pytest.mark.parametrize(
    ("typed", "channel", "message"),
    [("+447700900000", "sms", "No resident at that number."),
     ("12345", "telegram", "No resident at that chat id.")],
)  # fmt: skip
def test_no_one_there(admin, jo, database, typed, channel, message):
    reply = _find(admin, typed, channel)
    assert reply.status_code == 200
    assert message in reply.text and 'id="found"' not in reply.text
    [event] = _events(database)
    assert event.target is None and event.actor == ADMIN
    assert json.loads(event.detail) == {"channel": channel, "found": False}


@pytest.mark.parametrize(
    ("typed", "channel", "message"),
    [("call me", "sms", "That is not a phone number"),
     ("12", "sms", "That is not a phone number"),
     ("@jo", "telegram", "That is not a Telegram chat id"),
     (CHAT, "fax", "Choose a phone number or a Telegram chat id")],
)  # fmt: skip
def test_input_that_is_neither_gets_one_line(admin, jo, database, typed, channel, message):
    reply = _find(admin, typed, channel)
    assert reply.status_code == 400
    assert _error(reply).startswith(message)
    assert _events(database) == []


def test_the_download_holds_all_of_theirs_and_nothing_of_anyone_else(admin, jo, database):
    reply = admin.post(f"/residents/{jo['jo']}/export", data={"csrf_token": csrf(admin)})
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.headers["Content-Disposition"] == (
        f'attachment; filename="resident-{jo["jo"]}.json"'
    )
    assert reply.headers["Cache-Control"] == "no-store"
    assert int(reply.headers["Content-Length"]) == len(reply.data)
    copy = json.loads(reply.data.decode("utf-8"))
    assert copy["resident"]["id"] == jo["jo"]
    assert {i["address"] for i in copy["channel_identities"]} == {PHONE, CHAT}
    assert [v["text"] for v in copy["views"]] == [WORDS, "more bins please"]
    said = [e.get("text") for e in copy["conversation"] if e["type"] in ("user", "bot")]
    assert said == [WORDS, "Thanks, noted."]
    body = reply.data.decode("utf-8")
    assert OTHER_WORDS not in body and OTHER_PHONE not in body and jo["other_cid"] not in body
    [event] = _events(database)
    assert (event.action, event.actor, event.target) == (
        "resident.export", ADMIN, f"resident:{jo['jo']}"
    )  # fmt: skip
    assert json.loads(event.detail) == {"turns": 4} and event.remote_addr == "127.0.0.1"
    missing = admin.post("/residents/999999/export", data={"csrf_token": csrf(admin)})
    assert missing.status_code == 404 and _error(missing) == "No resident 999999."
    assert "Content-Disposition" not in missing.headers


@pytest.mark.parametrize("word", ["", "erase", "ERASE it", "yes"])
def test_erasing_needs_the_word_erase(admin, jo, database, word):
    reply = _erase(admin, jo["jo"], word)
    assert reply.status_code == 400
    assert _error(reply) == "Not erased: type ERASE in capitals to confirm."
    assert f"Resident {jo['jo']}</h2>" in reply.text  # the summary again, to try once more
    with database.transaction() as s:
        assert s.get(Resident, jo["jo"]) is not None
    assert _events(database) == []
    assert WORDS in everything(database)


def test_erasing_leaves_nothing_of_them_anywhere(admin, jo, database):
    reply = _erase(admin, jo["jo"])
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/residents")
    page = admin.get("/residents").text
    [message] = re.findall(r'<p class="notice" role="status">(.*)</p>', page)
    assert re.fullmatch(
        rf"Erased resident {jo['jo']}: \d+ rows, 4 conversation events; "
        r"2 address\(es\) on the do-not-contact list\.",
        message,
    )
    found = everything(database)
    for trace in (PHONE, CHAT, jo["jo_cid"], WORDS, "Quarry Mount", "more bins"):
        assert trace not in found
    assert OTHER_WORDS in found and OTHER_PHONE in found
    [event] = _events(database)
    assert (event.action, event.actor, event.remote_addr) == ("resident.erase", ADMIN, "127.0.0.1")
    assert PHONE not in event.detail and CHAT not in event.detail
    again = _erase(admin, jo["jo"])
    assert again.status_code == 404 and _error(again) == f"No resident {jo['jo']}."
    assert "No resident at that number." in _find(admin, "07700 900000").text


def test_forms_without_their_csrf_token_are_refused(admin, jo, database):
    assert admin.post("/residents", data={"channel": "sms", "address": PHONE}).status_code == 400
    export = admin.post(f"/residents/{jo['jo']}/export")
    assert export.status_code == 400 and "Content-Disposition" not in export.headers
    erase = admin.post(f"/residents/{jo['jo']}/erase", data={"confirm": "ERASE"})
    assert erase.status_code == 400
    with database.transaction() as s:
        assert s.get(Resident, jo["jo"]) is not None
    assert _events(database) == []


def test_a_tracker_store_of_its_own(settings, database, accounts, tmp_path):
    tracker = Database(f"sqlite:///{tmp_path / 'tracker.db'}")
    store = tracker_store_for(tracker)
    with database.transaction() as s:
        person = add_resident(s, "sms", PHONE, wording="Can we keep it?")
        resident_id, conversation_id = person.id, person.conversation_id
    short_conversation(store, conversation_id, WORDS)
    app = create_app(replace(settings, tracker_database_url=tracker.url), database)
    client = app.test_client()
    sign_in(client, "admin")
    try:
        copy = client.post(f"/residents/{resident_id}/export", data={"csrf_token": csrf(client)})
        assert [e.get("text") for e in copy.json["conversation"] if e["type"] == "user"] == [WORDS]
        assert _erase(client, resident_id).status_code == 302
        assert "Erased resident" in client.get("/residents").text
        with tracker.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM events")).scalar() == 0
        assert app.extensions[EXTENSION]["tracker"] is not database  # its own, made once
    finally:
        app.extensions[EXTENSION]["tracker"].dispose()
        store.engine.dispose()
        tracker.dispose()
