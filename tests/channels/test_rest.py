"""The REST channel's body: Rasa's `{"sender": ..., "message": ...}`, validated, row by row."""

from __future__ import annotations

import json

import pytest

from bot.services.inbound import Incoming
from channels.common import BadInput
from channels.rest import parse


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


NOT_JSON = BadInput("The body must be JSON.")
NOT_AN_OBJECT = BadInput('The body must be a JSON object: {"sender": ..., "message": ...}.')
BAD_SENDER = BadInput('"sender" must be a string of 1 to 255 characters.')
BAD_MESSAGE = BadInput('"message" must be a non-empty string.')
TOO_LONG = BadInput('"message" must be at most 2000 characters.')


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            body(sender="alice", message="hi"), Incoming("rest", "alice", "hi"), id="message"
        ),
        pytest.param(
            body(sender="alice", message="hi", channel="sms", metadata={"inbox_id": 1}),
            Incoming("rest", "alice", "hi"),
            id="no-other-channel-no-metadata",
        ),
        pytest.param(
            body(sender="a" * 255, message="hi"),
            Incoming("rest", "a" * 255, "hi"),
            id="longest-sender",
        ),
        pytest.param(
            body(sender="alice", message="x" * 2000),
            Incoming("rest", "alice", "x" * 2000),
            id="longest-message",
        ),
        pytest.param(
            body(sender="alice", message="/opt_out"),
            Incoming("rest", "alice", "/opt_out"),
            id="typed-intent-is-text-not-payload",
        ),
        pytest.param(b"", NOT_JSON, id="empty-body"),
        pytest.param(b"sender=alice&message=hi", NOT_JSON, id="a-form"),
        pytest.param(b"\xff\xfe", NOT_JSON, id="not-utf8"),
        pytest.param(b'["alice", "hi"]', NOT_AN_OBJECT, id="a-list"),
        pytest.param(b'"hi"', NOT_AN_OBJECT, id="a-string"),
        pytest.param(body(message="hi"), BAD_SENDER, id="no-sender"),
        pytest.param(body(sender="", message="hi"), BAD_SENDER, id="empty-sender"),
        pytest.param(body(sender="a" * 256, message="hi"), BAD_SENDER, id="sender-too-long"),
        pytest.param(body(sender=42, message="hi"), BAD_SENDER, id="sender-a-number"),
        pytest.param(
            body(sender="a\x00b", message="hi"),
            BadInput('"sender" must not contain control characters.'),
            id="sender-with-nul",
        ),
        pytest.param(b"[" * 30000 + b"]" * 30000, NOT_JSON, id="nested-30000-deep"),
        pytest.param(body(sender="alice"), BAD_MESSAGE, id="no-message"),
        pytest.param(body(sender="alice", message=""), BAD_MESSAGE, id="empty-message"),
        pytest.param(body(sender="alice", message=" \n "), BAD_MESSAGE, id="blank-message"),
        pytest.param(body(sender="alice", message=["hi"]), BAD_MESSAGE, id="message-a-list"),
        pytest.param(body(sender="alice", message="x" * 2001), TOO_LONG, id="message-too-long"),
    ],
)
def test_parse(raw, expected):
    if isinstance(expected, BadInput):
        with pytest.raises(BadInput) as refused:
            parse(raw)
        assert str(refused.value) == str(expected)
    else:
        assert parse(raw) == expected
