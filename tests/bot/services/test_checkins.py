"""Who is due a check-in and when: time travel with an explicit clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.models import ChannelIdentity, Checkin, InboxMessage, PreferenceEvent, Resident, View
from bot.services.checkins import (
    CLAIM_LEASE,
    DEFAULT_WORDING,
    CheckinAnswered,
    InvalidQuestion,
    QuestionDraft,
    QuestionToAsk,
    add_question,
    answer_checkin,
    claim,
    current_question,
    due_checkins,
    give_checkin_answer,
    jitter,
    mark_expired,
    mark_failed,
    mark_sent,
    question_to_ask,
    resident_wrote,
    too_late,
)
from bot.services.consent import opt_out
from bot.services.identities import conversation_for, mark_unreachable
from bot.services.preferences import less_often, pause, resume, set_rhythm
from bot.services.views import store_view
from tests.residents import add_resident

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)  # a Monday morning


def at(days: float, **extra: float) -> datetime:
    return T0 + timedelta(days=days, **extra)


def join(s, address="+447700900123", channel="sms") -> Resident:
    """A resident who joined, and consented, at T0."""
    return add_resident(s, channel, address, joined=T0)


def due_ids(s, now) -> list[int]:
    return [d.resident_id for d in due_checkins(s, now, jitter_minutes=0)]


def send(s, now):
    for item in due_checkins(s, now, jitter_minutes=0):
        checkin_id = claim(s, item, now)
        if checkin_id is not None:
            mark_sent(s, checkin_id, now)


def test_monthly_is_due_after_thirty_days_and_not_before(database):
    with database.transaction() as s:
        resident = join(s)
        assert due_ids(s, at(29.9)) == []
        assert due_ids(s, at(30)) == [resident.id]
        send(s, at(30))
        assert due_ids(s, at(59)) == []
        assert due_ids(s, at(60)) == [resident.id]


def test_fortnightly_updates_only_and_preference_history(database):
    with database.transaction() as s:
        resident = join(s)
        set_rhythm(s, resident, "fortnightly")
        assert due_ids(s, at(14)) == [resident.id]
        assert less_often(s, resident) == "monthly"
        assert due_ids(s, at(14)) == []
        assert less_often(s, resident) == "updates_only"
        assert due_ids(s, at(400)) == []
        history = s.scalars(select(PreferenceEvent.rhythm).order_by(PreferenceEvent.id)).all()
        assert history == ["fortnightly", "monthly", "updates_only"]


def test_no_consent_opt_out_unreachable_or_paused_means_no_checkin(database):
    with database.transaction() as s:
        stranger = conversation_for(s, "sms", "+447700900001")
        assert stranger and due_ids(s, at(90)) == []
        a = join(s, "+447700900002")
        b = join(s, "+447700900003")
        c = join(s, "424242", channel="telegram")
        d = join(s, "+447700900005")
        opt_out(s, a, channel="sms")
        mark_unreachable(s, "telegram", "424242")
        pause(s, d, until=at(60))
        assert due_ids(s, at(31)) == [b.id]
        assert set(due_ids(s, at(91))) == {b.id, d.id}  # d: 30 days after the pause ended
        assert c.id not in due_ids(s, at(91))
        assert resume(s, d) is True and resume(s, d) is False


def test_jitter_is_stable_and_within_bounds():
    offsets = [jitter(r, "2026-04-01", 240) for r in range(500)]
    assert all(timedelta(0) <= o < timedelta(minutes=240) for o in offsets)
    assert len({o.seconds // 600 for o in offsets}) > 10  # spread out, not one minute
    assert jitter(7, "2026-04-01", 240) == jitter(7, "2026-04-01", 240)
    assert jitter(7, "2026-04-01", 0) == timedelta(0)


def test_jitter_delays_the_due_time(database):
    with database.transaction() as s:
        resident = join(s)
        offset = jitter(resident.id, at(30).date().isoformat(), 240)
        assert due_checkins(s, at(30) + offset - timedelta(seconds=1), 240) == []
        assert len(due_checkins(s, at(30) + offset, 240)) == 1


def test_two_unanswered_checkins_give_one_pause_note_then_silence(database):
    with database.transaction() as s:
        resident = join(s)
        send(s, at(30))
        send(s, at(60))
        [note] = due_checkins(s, at(90), 0)
        assert note.kind == "pause_note"
        send(s, at(90))
        assert resident.pause_reason == "no_reply"
        assert due_ids(s, at(400)) == []
        # Any message resumes them; the next check-in comes a rhythm after the last one.
        resident_wrote(s, resident, at(400))
        assert resident.paused_until is None
        [item] = due_checkins(s, at(400), 0)
        assert item.kind == "checkin"


def test_an_answer_resets_the_no_reply_count(database):
    with database.transaction() as s:
        resident = join(s)
        send(s, at(30))
        resident_wrote(s, resident, at(31))
        send(s, at(60))
        [item] = due_checkins(s, at(90), 0)
        assert item.kind == "checkin"


def test_a_period_is_claimed_once_whoever_asks(database):
    with database.transaction() as s:
        join(s)
        [item] = due_checkins(s, at(30), 0)
        assert claim(s, item, at(30)) is not None
        assert claim(s, item, at(30)) is None  # a restart, or a second scheduler
        assert len(s.scalars(select(Checkin)).all()) == 1


def test_questions_target_themes_areas_and_windows(database):
    with database.transaction() as s:
        resident = join(s)
        resident.area = "LS6"
        store_view(s, resident, text="t", theme_key="housing", confidence=0.9, channel="sms")
        add_question(
            s, QuestionDraft(wording="About parks?", themes=["parks_green_spaces"], starts_at=at(0))
        )
        add_question(s, QuestionDraft(wording="For M14 only?", areas=["M14"], starts_at=at(0)))
        ended = add_question(s, QuestionDraft(wording="Old", starts_at=at(0), ends_at=at(10)))
        housing = add_question(
            s, QuestionDraft(wording="How is your home?", themes=["housing"], starts_at=at(1))
        )
        later = add_question(s, QuestionDraft(wording="Not yet", starts_at=at(100)))
        assert current_question(s, resident, at(30)).id == housing.id
        assert ended.id != housing.id and later.id != housing.id
        s.add(Checkin(resident_id=resident.id, period="p", kind="checkin", channel="sms",
                      status="sent", question_id=housing.id))  # fmt: skip
        s.flush()
        assert current_question(s, resident, at(30)).wording == DEFAULT_WORDING


def test_a_failed_checkin_is_claimed_again_in_its_period_and_a_sent_one_is_not(database):
    with database.transaction() as s:
        join(s)
        [item] = due_checkins(s, at(30), 0)
        first = claim(s, item, at(30))
        mark_failed(s, first)
        assert claim(s, item, at(30, minutes=1)) == first  # the same row, claimed again
        checkin = s.get(Checkin, first)
        assert (checkin.status, checkin.claimed_at) == ("claimed", at(30, minutes=1))
        mark_sent(s, first, at(30, minutes=1))
        assert claim(s, item, at(30, minutes=2)) is None
        assert claim(s, item, at(300)) is None  # however late
        assert len(s.scalars(select(Checkin)).all()) == 1


def test_a_claim_left_open_is_taken_again_only_after_its_lease(database):
    with database.transaction() as s:
        join(s)
        [item] = due_checkins(s, at(30), 0)
        first = claim(s, item, at(30))  # this pass dies before sending
        lease = CLAIM_LEASE.total_seconds()
        assert claim(s, item, at(30, seconds=lease - 1)) is None  # perhaps still sending
        assert claim(s, item, at(30, seconds=lease)) is None
        assert claim(s, item, at(30, seconds=lease + 1)) == first
        assert claim(s, item, at(30, seconds=lease + 2)) is None  # the new claim holds
        assert len(s.scalars(select(Checkin)).all()) == 1


def pass_at(database, now, ok: bool) -> list[int]:
    """One scheduler pass: what it claimed, then sent (`ok`) or failed."""
    with database.transaction() as s:
        due = due_checkins(s, now, jitter_minutes=0)
    claimed = []
    for item in due:
        with database.transaction() as s:
            checkin_id = claim(s, item, now)
        if checkin_id is None:
            continue
        claimed.append(checkin_id)
        with database.transaction() as s:
            mark_sent(s, checkin_id, now) if ok else mark_failed(s, checkin_id)
    return claimed


def test_a_failed_pass_is_made_good_later_and_the_next_is_due_after_the_send(database):
    with database.transaction() as s:
        resident_id = join(s).id
    [failed] = pass_at(database, at(31), ok=False)  # Rasa or the provider was down
    with database.transaction() as s:
        assert due_ids(s, at(62)) == [resident_id]  # still owed
    assert pass_at(database, at(62), ok=True) == [failed]  # the same period's row
    with database.transaction() as s:
        checkin = s.get(Checkin, failed)
        assert (checkin.status, checkin.sent_at, checkin.period) == (
            "sent", at(62), at(30).date().isoformat(),
        )  # fmt: skip
        assert due_ids(s, at(91.9)) == []  # a month after the send, not after day 30
        assert due_ids(s, at(92)) == [resident_id]
    assert pass_at(database, at(63), ok=True) == []
    [later] = pass_at(database, at(92), ok=True)
    assert later != failed


def test_answering_a_checkin_twice_from_one_message_stores_one_view(database):
    with database.transaction() as s:
        resident = join(s)
        [item] = due_checkins(s, at(30), 0)
        checkin_id = claim(s, item, at(30))
        mark_sent(s, checkin_id, at(30))
        inbox_id = inbox_row(s, resident)
    for _ in range(2):  # the turn is run again after a failure
        with database.transaction() as s:
            question = answer_checkin(
                s, checkin_id, resident.conversation_id, text="more buses",
                theme_key="roads_transport", confidence=0.9, channel="sms", inbox_id=inbox_id,
            )  # fmt: skip
            assert question is not None and question.id == item.question_id
    with database.transaction() as s:
        [view] = s.scalars(select(View)).all()
        assert (view.inbox_id, view.question_id) == (inbox_id, item.question_id)


def inbox_row(s, resident) -> int:
    row = InboxMessage(resident_id=resident.id, channel="sms", text="more buses",
                       status="pending", attempts=0, received_at=T0)  # fmt: skip
    s.add(row)
    s.flush()
    return row.id


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"wording": "  "}, "empty"),
        ({"wording": "x" * 251}, "at most 250"),
        ({"wording": "Caf\u00e9 ok \U0001f642?"}, "no emoji"),
        ({"wording": "Rate it", "kind": "poll"}, "open or scale"),
        ({"wording": "Why?", "ask_why": True}, "only a scale"),
        ({"wording": "Q", "themes": ["aliens"]}, "unknown themes"),
        ({"wording": "Q", "areas": ["Leeds"]}, "postcode district"),
        ({"wording": "Q", "ends_at": T0 - timedelta(days=1)}, "ends before"),
    ],
)
def test_bad_questions_are_refused_with_a_reason(database, kwargs, reason):
    with pytest.raises(InvalidQuestion, match=reason), database.transaction() as s:
        add_question(s, QuestionDraft(**{"starts_at": T0, **kwargs}))
    with database.transaction() as s:
        assert s.scalars(select(ChannelIdentity)).all() == []


def test_due_checkins_costs_the_same_few_queries_for_10_or_60_residents(database):
    """Set-based: the work per pass must not grow a query per resident."""
    from sqlalchemy import event

    def queries_for(count: int, first: int) -> tuple[int, int]:
        with database.transaction() as s:
            for i in range(first, first + count):
                resident = join(s, f"+4477009{i:05d}", "sms" if i % 2 else "telegram")
                store_view(s, resident, text="t", theme_key="housing", confidence=0.9,
                           channel="sms")  # fmt: skip
                if i % 3 == 0:  # some with a history: two unanswered check-ins
                    for days in (30, 60):
                        s.add(Checkin(resident_id=resident.id, period=f"p{days}", channel="sms",
                                      kind="checkin", status="sent", sent_at=at(days)))  # fmt: skip
            add_question(
                s,
                QuestionDraft(wording=f"About homes {first}?", themes=["housing"], starts_at=at(0)),
            )
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(database.engine, "before_cursor_execute", listener)
        try:
            with database.transaction() as s:
                due = due_checkins(s, at(400), jitter_minutes=0)
        finally:
            event.remove(database.engine, "before_cursor_execute", listener)
        return len(due), len(statements)

    few_due, few_queries = queries_for(10, 0)
    many_due, many_queries = queries_for(50, 100)
    assert (few_due, many_due) == (10, 60)
    assert few_queries == many_queries <= 8


VALIDITY = timedelta(hours=48)


def test_a_checkin_is_due_at_its_rhythm_plus_jitter_and_too_late_after_the_validity(database):
    with database.transaction() as s:
        resident = join(s)
        offset = jitter(resident.id, at(30).date().isoformat(), 240)
        [item] = due_checkins(s, at(31), 240)
        assert item.due_at == at(30) + offset
        assert not too_late(item, item.due_at + VALIDITY, VALIDITY)
        assert too_late(item, item.due_at + VALIDITY + timedelta(seconds=1), VALIDITY)


def test_an_expired_checkin_is_not_owed_again_and_the_next_follows_its_expiry(database):
    with database.transaction() as s:
        resident = join(s)
        [item] = due_checkins(s, at(40), 0)  # fell due at day 30: ten days late
        checkin_id = claim(s, item, at(40))
        mark_expired(s, checkin_id, at(40))
        checkin = s.get(Checkin, checkin_id)
        assert (checkin.status, checkin.sent_at, checkin.claimed_at) == ("expired", None, at(40))
        assert due_ids(s, at(41)) == []  # not owed: the period is closed
        assert claim(s, item, at(41)) is None  # and cannot be claimed again
        assert due_ids(s, at(69.9)) == []
        [next_one] = due_checkins(s, at(70), 0)  # a rhythm after it expired
        assert next_one.period == at(70).date().isoformat() != item.period
        assert next_one.resident_id == resident.id and next_one.kind == "checkin"


def test_expired_checkins_do_not_count_as_unanswered(database):
    """Two sent and unanswered make a pause note; an expired one between them changes that
    only by moving the rhythm (it was never asked)."""
    with database.transaction() as s:
        join(s)
        send(s, at(30))
        [item] = due_checkins(s, at(63), 0)  # due at day 60, three days late
        mark_expired(s, claim(s, item, at(63)), at(63))
        send(s, at(93))
        [note] = due_checkins(s, at(123), 0)
        assert note.kind == "pause_note"  # the two sent ones, at days 30 and 93


# Keyed by the conversation id, as the actions call them -----------------------------------


def sent_checkin(s, kind="open", ask_why=False) -> tuple[Resident, int]:
    """A resident and the check-in just sent to them (the standing question, or a scale one)."""
    resident = join(s)
    if kind == "scale":
        add_question(
            s,
            QuestionDraft(
                wording="Safe after dark? Reply 1 to 5.",
                kind="scale",
                ask_why=ask_why,
                starts_at=T0,
            ),
        )
    [item] = due_checkins(s, at(30), 0)
    checkin_id = claim(s, item, at(30))
    mark_sent(s, checkin_id, at(30))
    return resident, checkin_id


def test_the_question_to_ask_is_the_checkins_and_only_for_its_resident(database):
    with database.transaction() as s:
        resident, checkin_id = sent_checkin(s, kind="scale")
        other = join(s, "+447700900999")
        assert question_to_ask(s, resident.conversation_id, checkin_id) == QuestionToAsk(
            "Safe after dark? Reply 1 to 5.", "scale"
        )
        assert question_to_ask(s, other.conversation_id, checkin_id) is None
        assert question_to_ask(s, resident.conversation_id, checkin_id + 100) is None


@pytest.mark.parametrize(("kind", "ask_why"), [("open", False), ("scale", False), ("scale", True)])
def test_a_checkin_answer_is_kept_and_says_whether_to_ask_why(database, kind, ask_why):
    rating = 2 if kind == "scale" else None
    with database.transaction() as s:
        resident, checkin_id = sent_checkin(s, kind=kind, ask_why=ask_why)
        answered = give_checkin_answer(s, resident.conversation_id, checkin_id, text="2",
                                       theme_key=None, confidence=None, channel="sms",
                                       rating=rating)  # fmt: skip
        assert answered == CheckinAnswered(ask_why=ask_why)
        [view] = s.scalars(select(View)).all()
        checkin = s.get(Checkin, checkin_id)
        assert (view.text, view.rating, view.question_id) == ("2", rating, checkin.question_id)


def test_a_checkin_answer_that_cannot_be_kept_is_none(database):
    with database.transaction() as s:
        resident, checkin_id = sent_checkin(s, kind="scale")
        other = join(s, "+447700900999")
        conversation_id = resident.conversation_id

        def answer(who: str, **extra) -> CheckinAnswered | None:
            values = {"text": "3", "theme_key": None, "confidence": None, "channel": "sms"}
            return give_checkin_answer(s, who, checkin_id, **{**values, **extra})

        assert answer(other.conversation_id) is None  # not theirs
        assert answer(conversation_id, text=" ") is None  # nothing to keep
        assert answer(conversation_id, rating=6) is None  # not 1 to 5
        opt_out(s, resident, channel="sms")
        assert answer(conversation_id, rating=3) is None  # opted out: not allowed
        assert s.scalars(select(View)).all() == []
