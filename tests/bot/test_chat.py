"""The terminal chat: numbered buttons, the resident id it keeps, and a bot that is down."""

from __future__ import annotations

import os

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


WELCOME = (
    "Hi, this is Leeds Listens. We ask short questions now and then, and tell you what "
    "changed because of what people said. Privacy: https://example.org/privacy/notice-2026"
)


def test_replies_wrap_at_word_boundaries_to_the_width():
    lines = render([{"text": WELCOME}], width=40)
    assert lines[0].startswith("Bot: Hi, this is Leeds Listens.")
    assert all(line.startswith("     ") for line in lines[1:])
    assert all(len(line) <= 40 for line in lines if "https://" not in line)
    words = [word for line in lines for word in line.removeprefix("Bot:").split()]
    assert words == WELCOME.split()  # no word broken across lines
    assert "     https://example.org/privacy/notice-2026" in lines  # the URL whole


def test_the_terminal_width_is_the_default(monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a, **k: os.terminal_size((50, 24)))
    lines = render([{"text": WELCOME, "buttons": [{"title": "Yes"}]}])
    assert max(len(line) for line in lines if "https://" not in line) <= 50
    assert lines[-1] == "     1  Yes"


def test_a_terminal_that_reports_no_width_gets_80_columns(monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a, **k: os.terminal_size((0, 0)))
    lines = render([{"text": WELCOME}])
    assert lines[0].startswith("Bot: Hi") and max(len(line) for line in lines) <= 80
    assert len(lines) > 1
