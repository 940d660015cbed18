"""The terminal chat: numbered buttons, the resident id it keeps, and a bot that is down."""

from __future__ import annotations

from bot.chat import chat, load_sender, render


def test_buttons_are_numbered():
    lines = render(
        [{"text": "Which is it closest to?", "buttons": [
            {"title": "Housing", "payload": '/set_theme{"theme":"housing"}'},
            {"title": "Something else", "payload": '/set_theme{"theme":"other"}'},
        ]}]
    )  # fmt: skip
    assert lines == ["Bot: Which is it closest to?", "     1  Housing", "     2  Something else"]


def test_the_resident_id_is_kept_between_chats(tmp_path):
    path = tmp_path / "sender"
    first = load_sender(path, new=False)
    assert load_sender(path, new=False) == first
    assert load_sender(path, new=True) != first


def test_a_bot_that_is_not_running_gets_a_clear_message():
    said: list[str] = []
    typed = iter(["hi"])
    code = chat("http://127.0.0.1:9/webhooks/rest/webhook", "me", read=lambda _: next(typed),
                write=said.append, timeout=2)  # fmt: skip
    assert code == 1
    assert "make run" in said[-1]
