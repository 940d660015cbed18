"""Safeguarding alerts: recorded once, never views, handled (audited), told to the duty inbox."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace
from email import message_from_bytes

import pytest
from sqlalchemy import select

from bot.duty_mail import notify_duty_inbox
from bot.models import (
    AuditEvent,
    InboxMessage,
    SafeguardingAlert,
    ThemeSource,
    View,
    ViewTheme,
    utcnow,
)
from bot.services.consent import opt_out, record_consent
from bot.services.curation import CurationError
from bot.services.dashboard import views_per_week
from bot.services.residents import find_resident, get_or_create_resident
from bot.services.rights import erase
from bot.services.safeguarding import (
    AlreadyHandled,
    NotAnAlert,
    counts,
    keep_as_view,
    list_alerts,
    mark_handled,
    record_alert,
    to_notify,
)
from bot.services.views import NotAllowed


def _inbox_row(session, conversation_id: str) -> int:
    resident = get_or_create_resident(session, conversation_id, "sms")
    row = InboxMessage(
        resident_id=resident.id, channel="sms", text="x", status="pending", attempts=0,
        received_at=utcnow(),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def test_an_alert_is_recorded_without_consent_and_never_as_a_view(database):
    with database.transaction() as s:
        alert = record_alert(
            s, "c1", kind="self_harm", text=" i cant do this anymore ", channel="sms"
        )
        assert (alert.kind, alert.text, alert.handled_at) == (
            "self_harm",
            "i cant do this anymore",
            None,
        )
        assert s.scalars(select(View)).all() == []
    with database.transaction() as s:
        assert views_per_week(s).by_theme == {}
        assert counts(s).open == 1 and counts(s).total == 1


def test_the_same_inbox_message_gives_one_alert(database):
    with database.transaction() as s:
        inbox_id = _inbox_row(s, "c2")
    for _ in range(2):
        with database.transaction() as s:
            record_alert(
                s, "c2", kind="danger_now", text="fight outside", channel="sms", inbox_id=inbox_id
            )
    with database.transaction() as s:
        assert len(s.scalars(select(SafeguardingAlert)).all()) == 1


def test_an_unknown_kind_is_refused(database):
    with database.transaction() as s, pytest.raises(ValueError):
        record_alert(s, "c3", kind="nonsense", text="x", channel="sms")


def test_handled_once_and_audited_open_ones_listed_first(database):
    with database.transaction() as s:
        first = record_alert(s, "c4", kind="abuse", text="a", channel="telegram").id
        second = record_alert(s, "c5", kind="crime_report", text="b", channel="sms").id
    with database.transaction() as s:
        mark_handled(s, first, actor="duty@council.example")
        mark_handled(s, first, actor="someone-else@council.example")  # no second change
    with database.transaction() as s:
        assert [a.id for a in list_alerts(s, include_handled=False)] == [second]
        assert [a.id for a in list_alerts(s, include_handled=True)] == [second, first]
        handled = s.get(SafeguardingAlert, first)
        assert handled.handled_by == "duty@council.example"
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "safeguarding.handled"))
        [event] = events.all()
        assert event.target == f"alert:{first}" and event.detail == '{"kind": "abuse"}'
        with pytest.raises(NotAnAlert):
            mark_handled(s, 999999, actor="x")


def _false_alarm(database, conversation_id: str, *, consent: bool = True) -> int:
    """An alert on an ordinary view, from a resident who agreed (or not) to views being kept."""
    with database.transaction() as s:
        inbox_id = _inbox_row(s, conversation_id)
        if consent:
            resident = find_resident(s, conversation_id)
            record_consent(s, resident, given=True, wording="ok?", channel="sms")
        return record_alert(
            s,
            conversation_id,
            kind="danger_now",
            text="the junction by the school is a death trap",
            channel="sms",
            inbox_id=inbox_id,
        ).id


def test_an_officer_keeps_a_false_alarm_as_the_view_it_was(database):
    alert_id = _false_alarm(database, "c6")
    with database.transaction() as s:
        view = keep_as_view(s, alert_id, ["roads_transport"], actor="duty@council.example")
        view_id = view.id
    with database.transaction() as s:
        alert, view = s.get(SafeguardingAlert, alert_id), s.get(View, view_id)
        assert view.text == "the junction by the school is a death trap"
        assert alert.text == ""  # the words are the view's: its redaction and retention apply
        assert view.theme_key == "roads_transport" and view.theme_source == ThemeSource.OFFICER
        assert view.inbox_id == alert.inbox_id and view.channel == "sms"
        assert view.created_at == alert.created_at  # when the resident said it
        themes = s.scalars(select(ViewTheme.theme_key).where(ViewTheme.view_id == view_id))
        assert themes.all() == ["roads_transport"]
        assert alert.view_id == view_id and alert.handled_by == "duty@council.example"
        assert list_alerts(s, include_handled=False) == []
        assert views_per_week(s, now=utcnow()).by_theme["roads_transport"][-1] == 1  # counted
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.target == f"alert:{alert_id}"))
        assert event.action == "safeguarding.kept_as_view"
        detail = {"kind": "danger_now", "themes": ["roads_transport"], "view": view_id}
        assert json.loads(event.detail) == detail
    with pytest.raises(AlreadyHandled), database.transaction() as s:
        keep_as_view(s, alert_id, ["housing"], actor="someone-else@council.example")
    with database.transaction() as s:  # marking it handled now changes nothing
        assert mark_handled(s, alert_id, actor="someone-else@council.example").view_id == view_id
        assert s.get(SafeguardingAlert, alert_id).handled_by == "duty@council.example"


@pytest.mark.parametrize("second_does", ["keep", "mark"])
def test_of_two_officers_at_once_exactly_one_handles_the_alert(database, second_does):
    """The second reads the alert while the first's keep is not yet committed, then waits."""
    alert_id = _false_alarm(database, f"c11-{second_does}")
    reading, outcome = threading.Event(), []

    def second() -> None:
        try:
            with database.transaction() as s:
                s.get(SafeguardingAlert, alert_id)  # still open, as far as it can see
                reading.set()
                if second_does == "keep":
                    keep_as_view(s, alert_id, ["housing"], actor="second@council.example")
                else:
                    mark_handled(s, alert_id, actor="second@council.example")
            outcome.append("done")
        except AlreadyHandled:
            outcome.append("already handled")

    with database.transaction() as first:
        keep_as_view(first, alert_id, ["roads_transport"], actor="first@council.example")
        other = threading.Thread(target=second, daemon=True)
        other.start()
        assert reading.wait(10)
        time.sleep(0.3)  # the second is waiting for the first's write to end
    other.join(30)
    assert not other.is_alive()
    assert outcome == (["already handled"] if second_does == "keep" else ["done"])
    with database.transaction() as s:
        alert = s.get(SafeguardingAlert, alert_id)
        assert alert.handled_by == "first@council.example" and alert.view_id is not None
        assert (
            len(s.scalars(select(View).where(View.conversation_id == f"c11-{second_does}")).all())
            == 1
        )
        events = select(AuditEvent.action).where(AuditEvent.target == f"alert:{alert_id}")
        assert s.scalars(events).all() == ["safeguarding.kept_as_view"]


def test_erasing_the_resident_erases_the_alert_and_the_view_it_became(database):
    alert_id = _false_alarm(database, "c10")
    with database.transaction() as s:
        view_id = keep_as_view(s, alert_id, ["roads_transport"], actor="duty@council.example").id
        resident_id = find_resident(s, "c10").id
    with database.transaction() as s:
        assert erase(s, resident_id, key="k" * 32, actor="cli:dpo") is not None
    with database.transaction() as s:
        assert s.get(SafeguardingAlert, alert_id) is None and s.get(View, view_id) is None


def test_no_view_is_kept_for_a_resident_who_did_not_agree_stopped_or_asked_to_be_erased(
    database,
):
    refused = _false_alarm(database, "c7", consent=False)
    stopped = _false_alarm(database, "c8")
    leaving = _false_alarm(database, "c12")
    with database.transaction() as s:
        opt_out(s, find_resident(s, "c8"), channel="sms")
        find_resident(s, "c12").erase_requested_at = utcnow()
    for alert_id in (refused, stopped, leaving):
        with pytest.raises(NotAllowed), database.transaction() as s:
            keep_as_view(s, alert_id, ["roads_transport"], actor="duty@council.example")
    with database.transaction() as s:
        assert s.scalars(select(View)).all() == []
        assert {a.id for a in list_alerts(s, include_handled=False)} == {refused, stopped, leaving}


def test_keeping_as_a_view_needs_an_alert_and_a_known_theme(database):
    alert_id = _false_alarm(database, "c9")
    with pytest.raises(NotAnAlert), database.transaction() as s:
        keep_as_view(s, 999999, ["roads_transport"], actor="x")
    with pytest.raises(CurationError), database.transaction() as s:
        keep_as_view(s, alert_id, ["roads_transport", "not_a_theme"], actor="x")
    with database.transaction() as s:
        assert s.scalars(select(View)).all() == []  # nothing half-written
        assert s.get(SafeguardingAlert, alert_id).handled_at is None
        view = keep_as_view(s, alert_id, [], actor="x")  # "something else": no theme
        assert view.theme_key is None


class _SmtpServer:
    """A minimal SMTP server on 127.0.0.1 that keeps what it receives (no network beyond)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def handle(reader, writer):
            writer.write(b"220 fake ESMTP\r\n")
            data, in_data = [], False
            while line := await reader.readline():
                if in_data:
                    if line == b".\r\n":
                        self.messages.append(b"".join(data))
                        data, in_data = [], False
                        writer.write(b"250 OK\r\n")
                    else:
                        data.append(line[1:] if line.startswith(b"..") else line)
                    continue
                command = line[:4].upper()
                if command == b"DATA":
                    in_data = True
                    writer.write(b"354 go ahead\r\n")
                elif command == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                elif command in (b"EHLO", b"HELO"):
                    writer.write(b"250 fake\r\n")
                else:
                    writer.write(b"250 OK\r\n")
                await writer.drain()
            writer.close()

        server = self._loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> _SmtpServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def test_the_duty_inbox_is_told_once_and_never_what_was_said(database, settings):
    with database.transaction() as s:
        record_alert(s, "c6", kind="self_harm", text="SECRET WORDS about me", channel="sms")
        record_alert(s, "c7", kind="danger_now", text="OTHER SECRET", channel="telegram")
    assert notify_duty_inbox(database, settings) == 0  # not configured: nothing, nothing marked
    with _SmtpServer() as smtp:
        configured = replace(
            settings,
            safeguarding_notify_email="duty@council.example",
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_from="engage@council.example",
            console_url="https://console.council.example",
        )
        assert notify_duty_inbox(database, configured) == 2
        assert notify_duty_inbox(database, configured) == 0  # told once
    [raw] = smtp.messages
    mail = message_from_bytes(raw)
    body = mail.get_payload(decode=True).decode()
    assert (
        mail["To"] == "duty@council.example" and mail["Subject"] == "Safeguarding message received"
    )
    assert "2 new safeguarding message(s)" in body
    assert "https://console.council.example/safeguarding" in body
    assert "SECRET" not in raw.decode() and "c6" not in raw.decode()
    with database.transaction() as s:
        assert to_notify(s) == []


def test_a_duty_inbox_that_cannot_be_reached_is_tried_again_later(database, settings):
    with database.transaction() as s:
        record_alert(s, "c8", kind="abuse", text="x", channel="sms")
    down = replace(
        settings, safeguarding_notify_email="duty@council.example", smtp_host="127.0.0.1",
        smtp_port=9,
    )  # fmt: skip
    assert notify_duty_inbox(database, down) == 0
    with database.transaction() as s:
        assert len(to_notify(s)) == 1
