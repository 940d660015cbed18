"""Safeguarding alerts: recorded once, never views, handled (audited), told to the duty inbox."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from email import message_from_bytes

import pytest
from sqlalchemy import select

from bot.duty_mail import notify_duty_inbox
from bot.models import AuditEvent, InboxMessage, SafeguardingAlert, View, utcnow
from bot.services.dashboard import views_per_week
from bot.services.residents import get_or_create_resident
from bot.services.safeguarding import (
    NotAnAlert,
    counts,
    list_alerts,
    mark_handled,
    record_alert,
    to_notify,
)


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
