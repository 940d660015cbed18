"""The Check-ins page: who may open it, the preview, adding, the answers so far, ending early."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import select

from bot.models import AuditEvent, Checkin, CheckinQuestion
from bot.services.checkins import QuestionDraft, add_question
from bot.services.preferences import pause, set_rhythm
from tests.bot.console.conftest import csrf
from tests.residents import NOW, add_resident, add_view

QUESTION = "How are the buses where you live?"


def _text(reply) -> str:
    return re.sub(r"\s+", " ", reply.get_data(as_text=True))


def _post(client, **fields):
    data = {"csrf_token": csrf(client), "wording": QUESTION, "kind": "open", **fields}
    return client.post("/checkins", data=data)


def test_only_officers_and_admins_open_the_page(app, signed_in, accounts):
    assert app.test_client().get("/checkins").status_code == 302  # to the sign-in page
    analyst = signed_in("analyst")
    assert analyst.get("/checkins").status_code == 403
    assert analyst.post("/checkins", data={"csrf_token": csrf(analyst)}).status_code == 403
    assert analyst.post("/checkins/1/end", data={"csrf_token": csrf(analyst)}).status_code == 403
    assert 'href="/checkins"' not in analyst.get("/").get_data(as_text=True)
    for role in ("officer", "admin"):
        client = signed_in(role)
        page = client.get("/checkins").get_data(as_text=True)
        assert "Ask a new question" in page
        assert 'href="/checkins">Check-ins</a>' in client.get("/").get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(signed_in, database):
    client = signed_in("officer")
    reply = client.post("/checkins", data={"wording": QUESTION, "do": "add"})
    assert reply.status_code == 400
    with database.transaction() as s:
        assert s.scalars(select(CheckinQuestion)).all() == []


def test_the_preview_shows_the_message_its_size_and_who_it_reaches(signed_in, seeded, database):
    client = signed_in("officer")
    page = _text(_post(client, do="preview"))
    assert f'<p class="sms" id="checkin-text">Hi from Leeds Listens. {QUESTION}</p>' in page
    size = len(f"Hi from Leeds Listens. {QUESTION}")
    assert f"Plain text: {size} characters, 1 SMS." in page
    assert "<strong>3</strong> residents would be asked it now" in page
    buses = _text(_post(client, do="preview", theme="roads_transport"))
    assert "<strong>2</strong> residents would be asked it now" in buses
    in_ls7 = _text(_post(client, do="preview", theme="roads_transport", areas="ls7"))
    assert "<strong>0</strong> residents would be asked" in in_ls7
    assert 'value="LS7"' not in in_ls7 and 'value="ls7"' in in_ls7  # the form as typed
    emoji = _text(_post(client, do="preview", wording="How is the bus? \U0001f68c"))
    assert "plain SMS characters (no emoji)" in emoji
    # Pasted from Word: its curly quotes and dashes are made plain, and it fits 1 SMS.
    curly = _text(_post(client, do="preview", wording="How\u2019s the bus \u2013 \u201cok\u201d?"))
    assert "Hi from Leeds Listens. How&#39;s the bus - &#34;ok&#34;?" in curly
    assert "1 SMS" in curly
    with database.transaction() as s:
        assert s.scalars(select(CheckinQuestion)).all() == []  # a preview adds nothing


def test_the_reach_leaves_out_who_gets_no_check_ins(signed_in, seeded, database):
    with database.transaction() as s:
        paused = add_resident(s, "sms", "+447700900021", area="LS6")
        pause(s, paused, NOW + timedelta(days=30), reason="asked")
        updates_only = add_resident(s, "sms", "+447700900022", area="LS6")
        set_rhythm(s, updates_only, "updates_only")
        add_resident(s, "rest", "web-1", area="LS6")  # the web chat cannot be messaged first
        add_resident(s, "sms", "+447700900023", area="LS6", consent=False)
    page = _text(_post(signed_in("officer"), do="preview", areas="LS6"))
    assert "<strong>2</strong> residents would be asked it now" in page


def test_an_officer_adds_a_question_and_it_is_audited(signed_in, seeded, database):
    client = signed_in("officer")
    reply = _post(
        client, do="add", kind="scale", ask_why="yes", theme="roads_transport", areas="LS6",
        wording=QUESTION + " 1 (bad) to 5 (good)",
    )  # fmt: skip
    assert reply.status_code == 302 and reply.location.endswith("/checkins")
    page = _text(client.get("/checkins"))
    with database.transaction() as s:
        question = s.scalars(select(CheckinQuestion)).one()
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "checkin.add")).one()
        assert (question.kind, question.ask_why) == ("scale", True)
        assert json.loads(question.themes) == ["roads_transport"]
        assert json.loads(question.areas) == ["LS6"]
        assert question.starts_at <= NOW + timedelta(minutes=5) and question.ends_at is None
        assert (
            event.actor == "officer@council.example" and event.target == f"question:{question.id}"
        )
    assert (
        f"Question {question.id} added. It would be put to 2 residents as things are now." in page
    )
    running = re.search(r'<section aria-labelledby="running-heading".*?</section>', page)[0]
    assert QUESTION in running and '1 to 5, then "why?"' in running
    assert "residents who spoke about Roads &amp; transport in LS6" in running
    assert "Asked 0 times; 0 ratings; 0 said why." in running


def test_wrong_questions_are_explained_and_nothing_is_added(signed_in, database):
    client = signed_in("officer")
    for fields, reason in (
        ({"wording": "  "}, "The question is empty."),
        ({"ask_why": "yes"}, "Only a scale question has a 'why?' follow-up."),
        ({"theme": "potholes"}, "Unknown themes: potholes."),
        ({"areas": "Leeds"}, "'Leeds' is not a postcode district like LS6."),
        ({"starts": "2031-02-01", "ends": "2031-01-01"}, "The run window ends before it starts."),
        (
            {"starts": "2025-01-01", "ends": "2025-02-01"},
            "The end date has passed: a question can run from today on.",
        ),
        ({"starts": "soon"}, "Starts must be a date like 2026-03-01."),
        ({"wording": "x" * 251}, "must be at most 250 plain SMS characters"),  # not the hint
    ):
        reply = _post(client, do="add", **fields)
        assert reply.status_code == 400, fields
        assert reason in reply.get_data(as_text=True).replace("&#39;", "'"), fields
    with database.transaction() as s:
        assert s.scalars(select(CheckinQuestion)).all() == []


def test_planned_and_dated_questions(signed_in, database):
    client = signed_in("officer")
    later = (NOW + timedelta(days=10)).date()
    _post(client, do="add", starts=later.isoformat(), ends=(later + timedelta(days=6)).isoformat())
    with database.transaction() as s:
        question = s.scalars(select(CheckinQuestion)).one()
        assert question.starts_at.date() == later and question.starts_at.hour == 0
        assert question.ends_at - question.starts_at == timedelta(days=7)  # the last day included
    planned = re.search(
        r'<section aria-labelledby="planned-heading".*?</section>', _text(client.get("/checkins"))
    )[0]
    assert QUESTION in planned and "starts " in planned and "until" in planned


def _answers(s, question, ratings: list[int], words: list[str]) -> list[int]:
    """Views answering `question`: a rating each, then the words (why, or open answers)."""
    ids = []
    for n, rating in enumerate(ratings):
        person = add_resident(s, "sms", f"+4477009002{n:02d}", area="LS6")
        view = add_view(s, person, str(rating), None)
        view.question_id, view.rating = question.id, rating
        s.add(Checkin(resident_id=person.id, period=f"p{n}", kind="checkin",
                      question_id=question.id, channel="sms", status="sent"))  # fmt: skip
        ids.append(view.id)
    for n, text in enumerate(words):
        person = add_resident(s, "sms", f"+4477009003{n:02d}", area="LS6")
        view = add_view(s, person, text, "roads_transport")
        view.question_id = question.id
        ids.append(view.id)
    s.flush()
    return ids


def test_scale_answers_show_their_distribution_mean_and_chart(signed_in, database):
    with database.transaction() as s:
        scale = add_question(
            s,
            QuestionDraft(
                wording="Rate the buses 1 (bad) to 5 (good)",
                kind="scale",
                ask_why=True,
                starts_at=NOW - timedelta(days=3),
            ),
        )
        _answers(s, scale, [1, 2, 2, 5], ["too few", "late"])
        opened = add_question(
            s, QuestionDraft(wording="Anything else?", starts_at=NOW - timedelta(days=2))
        )
        _answers(s, opened, [], ["the park", "the bins", "the library"])
        ids = scale.id, opened.id
    page = _text(signed_in("officer").get("/checkins"))
    summary = "Asked 4 times; 4 ratings, mean 2.5 out of 5; 2 said why."
    assert f'<p class="answers" id="answers-{ids[0]}">{summary}' in page
    ratings = re.search(rf'<table class="counts" id="ratings-{ids[0]}">.*?</table>', page)[0]
    assert "<td>1</td><td>2</td><td>0</td><td>0</td><td>1</td>" in ratings
    figure = re.search(
        rf'<figure class="chart small">.*?id="rating-title-{ids[0]}".*?</svg>', page
    )[0]
    assert figure.count("<rect") == 5 and "2 rated 2" in figure
    assert f'id="answers-{ids[1]}">Asked 0 times; 3 answers from 3 residents.' in page
    assert f"rating-title-{ids[1]}" not in page  # no chart for words
    # The newest running question comes first.
    assert page.index(f'id="question-{ids[1]}"') < page.index(f'id="question-{ids[0]}"')


def test_an_officer_ends_a_question_early(signed_in, database):
    with database.transaction() as s:
        running = add_question(
            s, QuestionDraft(wording="Running?", starts_at=NOW - timedelta(days=1))
        )
        planned = add_question(
            s, QuestionDraft(wording="Planned?", starts_at=NOW + timedelta(days=5))
        )
        ids = running.id, planned.id
    client = signed_in("officer")
    for question_id in ids:
        reply = client.post(f"/checkins/{question_id}/end", data={"csrf_token": csrf(client)})
        assert reply.status_code == 302
    page = _text(client.get("/checkins"))
    assert f"Question {ids[1]} ended: nobody will be asked it from now on." in page
    ended = re.search(r'<section aria-labelledby="ended-heading".*?</section>', page)[0]
    assert "Running?" in ended and "Planned?" in ended and "before it started" in ended
    assert "End question" not in ended
    again = client.post(f"/checkins/{ids[0]}/end", data={"csrf_token": csrf(client)})
    assert f"Question {ids[0]} has already ended." in _text(client.get(again.location))
    assert client.post("/checkins/99999/end", data={"csrf_token": csrf(client)}).status_code == 404
    with database.transaction() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "checkin.end")).all()
        assert sorted(e.target for e in events) == [f"question:{i}" for i in sorted(ids)]
        assert all(e.actor == "officer@council.example" for e in events)
        question = s.get(CheckinQuestion, ids[0])
        assert question.ends_at is not None and question.ends_at <= NOW + timedelta(minutes=5)
