"""`engage residents find|export|erase`: a resident's access and erasure requests from a
terminal, on both databases, with Rasa's tracker store in the same database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot import cli
from bot.models import AuditEvent, DoNotContact, Resident
from bot.services.identities import resident_for
from bot.services.rights import address_hash
from bot.settings import get_settings
from tests.residents import (
    CHAT,
    OTHER_PHONE,
    OTHER_WORDS,
    PHONE,
    WORDING,
    WORDS,
    everything,
    two_residents,
)  # fmt: skip

KEY = "dnc-cli-test-key"


@pytest.fixture
def cli_database(cli_database, tracker, tmp_path, monkeypatch):
    """The CLI on the test database, with Rasa's tracker store (`tracker`) in the same one."""
    monkeypatch.setenv("TRACKER_DATABASE_URL", cli_database.url)
    monkeypatch.setenv("DO_NOT_CONTACT_KEY", KEY)
    monkeypatch.setenv("ENGAGE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    return cli_database, tracker


@pytest.fixture
def jo(cli_database):
    """Jo on SMS and Telegram, with a consent, an area, two views and a conversation; and
    someone else with theirs."""
    return two_residents(*cli_database)


def audit_trail(database) -> list[tuple[str, str | None, str]]:
    with database.transaction() as s:
        return [
            (e.action, e.target, e.detail)
            for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def test_find_by_any_spelling_of_the_number_or_by_chat_id(jo, cli_database, capsys):
    database, _ = cli_database
    finds = [
        ["--phone", "07700 900456"], ["--phone", "+44 7700-900456"],
        ["--phone", "00447700900456"], ["--telegram-id", CHAT],
    ]  # fmt: skip
    for where in finds:
        assert cli.main(["residents", "find", *where]) == 0, where
        out = capsys.readouterr().out
        [line] = out.splitlines()
        assert line.startswith(f"resident {jo['jo']}: joined ")
        assert "sms/telegram" in line and "area LS6" in line and "2 views" in line
        assert "900456" not in out and CHAT not in out and "pothole" not in out

    assert cli.main(["residents", "find", "--phone", "07700 900555"]) == 1
    assert capsys.readouterr().out == "No resident at that number.\n"
    assert cli.main(["residents", "find", "--telegram-id", "12345"]) == 1
    assert capsys.readouterr().out == "No resident at that chat id.\n"
    for where in (["--phone", "call me maybe"], ["--telegram-id", "@jo"]):
        assert cli.main(["residents", "find", *where]) == 2
        assert "not a phone number or a chat id" in capsys.readouterr().err

    trail = audit_trail(database)
    assert [(action, target) for action, target, _ in trail] == [
        *[("resident.find", f"resident:{jo['jo']}")] * 4, ("resident.find", None),
        ("resident.find", None),
    ]  # fmt: skip
    assert "900456" not in repr(trail) and "900555" not in repr(trail) and CHAT not in repr(trail)


def test_export_writes_everything_of_theirs_and_nothing_of_anyone_else(
    jo, cli_database, tmp_path, monkeypatch, capsys
):
    database, _ = cli_database
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)  # -o is relative to where engage was run, not the project
    assert cli.main(["residents", "export", str(jo["jo"]), "-o", "copy.json"]) == 0
    written = here / "copy.json"
    assert f"to {written}." in capsys.readouterr().out
    dumped = written.read_text(encoding="utf-8")
    copy = json.loads(dumped)
    assert copy["resident"]["id"] == jo["jo"] and copy["resident"]["area"] == "LS6"
    assert {(i["channel"], i["address"]) for i in copy["channel_identities"]} == {
        ("sms", PHONE), ("telegram", CHAT)
    }  # fmt: skip
    assert [v["text"] for v in copy["views"]] == [WORDS, "more bins please"]
    assert [e["kind"] for e in copy["consent_events"]] == ["given"]
    assert [w["text"] for w in copy["consent_wordings"]] == [WORDING]
    said = [
        (e["type"], e.get("text")) for e in copy["conversation"] if e["type"] in ("user", "bot")
    ]
    assert said == [("user", WORDS), ("bot", "Thanks, noted.")]
    for trace in (OTHER_PHONE, OTHER_WORDS, "Kirkstall", jo["other_cid"]):
        assert trace not in dumped

    # No such resident, or nowhere to write: exit code, message, and no file at all.
    assert cli.main(["residents", "export", "999999", "-o", "nobody.json"]) == 1
    assert "no resident 999999" in capsys.readouterr().err
    assert cli.main(["residents", "export", str(jo["jo"]), "-o", "missing/copy.json"]) == 2
    assert "cannot write to" in capsys.readouterr().err
    assert [p.name for p in here.iterdir()] == ["copy.json"]

    # A failure while writing leaves neither the file nor a temporary one.
    folder = tmp_path / "out"
    folder.mkdir()

    def failing(copy):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr("bot.services.rights.subject_access_json", failing)
    with pytest.raises(OSError, match="disk full"):
        cli.main(["residents", "export", str(jo["jo"]), "-o", str(folder / "copy.json")])
    assert list(folder.iterdir()) == []

    trail = audit_trail(database)
    assert [(action, target) for action, target, _ in trail] == [
        ("resident.export", f"resident:{jo['jo']}")
    ]
    assert json.loads(trail[0][2]) == {"turns": len(copy["conversation"])}


def test_erase_asks_for_the_word_then_leaves_nothing_of_them(jo, cli_database, monkeypatch, capsys):
    database, _ = cli_database
    prompts = []
    answers = iter(["erase", "ERASE"])

    def typed(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", typed)
    assert cli.main(["residents", "erase", str(jo["jo"])]) == 1  # not the word: nothing
    out = capsys.readouterr().out
    assert out.startswith(f"resident {jo['jo']}: ") and out.endswith("Not erased.\n")
    assert prompts == ["Type ERASE to erase everything held on this resident: "]
    assert PHONE in everything(database) and WORDS in everything(database)

    assert cli.main(["residents", "erase", str(jo["jo"])]) == 0
    assert f"Erased resident {jo['jo']}: " in capsys.readouterr().out
    found = everything(database)
    for trace in (PHONE, PHONE[1:], CHAT, jo["jo_cid"], "potholes", "Quarry Mount", "more bins"):
        assert trace not in found, trace
    for trace in (OTHER_PHONE, OTHER_WORDS, jo["other_cid"]):
        assert trace in found, trace  # everyone else is kept
    with database.transaction() as s:
        assert s.get(Resident, jo["jo"]).erased_at is not None  # kept empty: id never reused
        assert sorted(s.scalars(select(DoNotContact.address_hash))) == sorted(
            [address_hash("sms", PHONE, KEY), address_hash("telegram", CHAT, KEY)]
        )

    assert cli.main(["residents", "erase", str(jo["other"]), "--yes"]) == 0  # no question
    assert len(prompts) == 2
    assert cli.main(["residents", "erase", str(jo["other"]), "--yes"]) == 1
    assert "no resident" in capsys.readouterr().err
    assert OTHER_PHONE not in everything(database) and OTHER_WORDS not in everything(database)

    trail = audit_trail(database)
    assert [(action, target) for action, target, _ in trail] == [
        ("resident.erase", f"resident:{jo['jo']}"), ("resident.erase", f"resident:{jo['other']}"),
    ]  # fmt: skip
    detail = json.loads(trail[0][2])
    assert detail["tracker_events"] == 4 and detail["addresses"] == 2
    assert detail["rows"]["views"] == 2 and detail["rows"]["channel_identities"] == 2
    assert "900456" not in repr(trail) and "900999" not in repr(trail) and CHAT not in repr(trail)


def test_an_erased_residents_id_is_never_given_to_someone_new(jo, cli_database, request):
    """The audit log and analysts' pseudonyms name residents by id: a new resident must not
    inherit an erased one's (SQLite would reuse the highest id of a deleted row, so the
    erased row stays, emptied)."""
    database, _ = cli_database
    assert cli.main(["residents", "erase", str(jo["other"]), "--yes"]) == 0
    with database.transaction() as s:
        someone = resident_for(s, "sms", "+447700900777")
        s.flush()
        new_id = someone.id
    assert new_id not in (jo["jo"], jo["other"])
