"""End to end: the scheduler opens check-ins through Rasa on SMS and Telegram; replies are
stored linked to the question."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.keys import RASA_API_TOKEN_FILE
from bot.models import CheckinQuestion, View
from bot.services.checkins import DEFAULT_WORDING
from bot.services.identities import resident_at
from bot.settings import PROJECT_ROOT
from tests.e2e.conftest import RASA_API_TOKEN
from tests.e2e.test_channels import new_chat, new_number, sms, telegram, telegram_update

pytestmark = pytest.mark.e2e

SCALE_QUESTION = (
    "How safe do you feel walking in your area after dark? Reply 1 (very unsafe) to 5 (very safe)."
)


def engage(stack, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **stack.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_scheduler(stack, now: datetime, **env: str) -> str:
    done = engage(
        stack, "scheduler", "--once", "--now", now.isoformat(),
        QUIET_HOURS="off", CHECKIN_JITTER_MINUTES="0", **env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_scheduled_checkins_on_sms_and_telegram(stack, fake):
    number, chat = new_number(), new_chat()
    sms(stack, number, "hi")
    sms(stack, number, "yes")
    sms(stack, number, "the buses stop at 6 so i cant get home from my shift")
    sms(stack, number, "done")
    sms(stack, number, "LS6")
    telegram(stack, telegram_update("telegram_start.json", chat))
    telegram(stack, telegram_update("telegram_callback_query.json", chat))

    added = engage(
        stack, "checkins", "add", SCALE_QUESTION, "--kind", "scale", "--ask-why", "--area", "LS6"
    )
    assert added.returncode == 0 and "Hi from Leeds Listens. How safe" in added.stdout

    month_later = datetime.now(timezone.utc) + timedelta(days=31)
    # By hand beside `make run`, which keeps its token in var/ when none is set.
    (stack.workdir / RASA_API_TOKEN_FILE).write_text(RASA_API_TOKEN)
    assert "sent" in run_scheduler(stack, month_later, RASA_API_TOKEN="")
    assert fake.sms_to(number)[-1] == f"Hi from Leeds Listens. {SCALE_QUESTION}"
    assert fake.telegram_to(chat)[-1]["text"] == f"Hi from Leeds Listens. {DEFAULT_WORDING}"

    # The scheduler again (a restart): nobody hears twice in the same period.
    sms_count, tg_count = len(fake.sms_to(number)), len(fake.telegram_to(chat))
    run_scheduler(stack, month_later + timedelta(hours=2))
    assert (len(fake.sms_to(number)), len(fake.telegram_to(chat))) == (sms_count, tg_count)

    # SMS: "2" is the rating; then the why, stored under its own theme.
    sms(stack, number, "2")
    assert fake.sms_to(number)[-1] == "Thanks. Why do you say that?"
    sms(stack, number, "more lights on the path by the canal, its pitch black")
    assert fake.sms_to(number)[-1].startswith("Thanks, noted under")

    # Telegram: an open answer, themed.
    telegram(
        stack,
        telegram_update("telegram_message.json", chat, text="the bins on our street overflow"),
    )
    assert fake.telegram_to(chat)[-1]["text"].startswith("Thanks, noted under Rubbish & recycling")

    with stack.database.transaction() as s:
        scale = s.scalars(
            select(CheckinQuestion).where(CheckinQuestion.wording == SCALE_QUESTION)
        ).one()
        default = s.scalars(
            select(CheckinQuestion).where(CheckinQuestion.wording == DEFAULT_WORDING)
        ).one()
        sms_views = s.scalars(
            select(View)
            .where(View.resident_id == resident_at(s, "sms", number).id)
            .order_by(View.id)
        ).all()
        tg_views = s.scalars(
            select(View).where(View.resident_id == resident_at(s, "telegram", str(chat)).id)
        ).all()
    rating, why = sms_views[-2:]
    assert (rating.question_id, rating.rating) == (scale.id, 2)
    assert why.question_id == scale.id and why.theme_key is not None
    assert [(v.question_id, v.theme_key) for v in tg_views] == [(default.id, "waste_recycling")]


def test_preferences_are_confirmed_in_one_line(stack, fake):
    number = new_number()
    sms(stack, number, "hi")
    sms(stack, number, "yes")
    sms(stack, number, "less often please")
    assert fake.sms_to(number)[-1].startswith("OK, we'll only message you when something changes")
    sms(stack, number, "pause for 3 months")
    assert fake.sms_to(number)[-1].startswith("OK, no check-ins until ")
    sms(stack, number, "resume")
    assert fake.sms_to(number)[-1] == "Welcome back. Check-ins are on again."
    sms(stack, number, "every two weeks")
    assert fake.sms_to(number)[-1].startswith("OK, we'll check in about every two weeks.")
    with stack.database.transaction() as s:
        assert resident_at(s, "sms", number).rhythm == "fortnightly"
