"""Check-in questions: running, planned and ended, with their answers; add one (after a
preview of the message and of who it would reach); end one early.

The same service functions as `engage checkins` (bot/services/checkins_questions.py), and
the same audit actions, "checkin.add" and "checkin.end". Officers and admins only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bot.console import chart, database, settings
from bot.console.forms import BadInput, day, midnight, words
from bot.console.security import login_required
from bot.models import QuestionKind, Role, utcnow
from bot.services.checkins import (
    MAX_QUESTION_CHARS,
    InvalidQuestion,
    QuestionDraft,
    checked_question,
)
from bot.services.checkins_questions import (
    STATUSES,
    MessagePreview,
    QuestionStatus,
    UnknownQuestion,
    add_question_recorded,
    end_question,
    list_questions,
    preview_message,
    reach_of,
)

blueprint = Blueprint("checkins", __name__, url_prefix="/checkins")

HEADINGS = {
    QuestionStatus.RUNNING: "Running now",
    QuestionStatus.PLANNED: "Planned",
    QuestionStatus.ENDED: "Ended",
}


def _posted() -> dict:
    """The form as posted (for showing it again)."""
    form: dict[str, Any] = {k: v for k, v in request.form.items() if k not in ("csrf_token", "do")}
    form["themes"] = request.form.getlist("theme")
    return form


def _draft(form: dict, now: datetime) -> QuestionDraft:
    """The question from the form (not yet checked); raises BadInput for a bad date."""
    starts = midnight(day(form.get("starts"), "Starts"))
    ends = midnight(day(form.get("ends"), "Ends"), days=1)  # the whole last day
    if ends is not None and ends <= now:
        raise BadInput("The end date has passed: a question can run from today on")
    return QuestionDraft(
        wording=form.get("wording", ""),
        kind=form.get("kind", QuestionKind.OPEN),
        ask_why=form.get("ask_why") == "yes",
        themes=form["themes"],
        areas=words(form.get("areas")),
        starts_at=now if starts is None or starts <= now else starts,  # no earlier than now
        ends_at=ends,
    )


def _reason(exc: Exception) -> str:
    message = str(exc)
    return message[:1].upper() + message[1:] + "."


def _page(
    form: dict | None = None,
    preview: MessagePreview | None = None,
    reached: int | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The page: the questions by status, and the form (with its preview or its error)."""
    with database().transaction() as s:
        questions = list_questions(s)
    groups = {name: [q for q in questions if q.status == name] for name in STATUSES}
    charts = {
        q.id: chart.distribution(q.ratings) for q in questions if q.kind == QuestionKind.SCALE
    }
    page = render_template(
        "checkins.html",
        groups=groups,
        headings=HEADINGS,
        charts=charts,
        form=form or {"kind": QuestionKind.OPEN, "themes": []},
        preview=preview,
        reached=reached,
        error=error,
        max_chars=MAX_QUESTION_CHARS,
    )
    return page, status


@blueprint.get("")
@login_required(Role.OFFICER)
def index() -> ResponseReturnValue:
    """Every question and its answers so far, and the form to add one."""
    return _page()


@blueprint.post("")
@login_required(Role.OFFICER)
def add() -> ResponseReturnValue:
    """Preview the question (the message, its size, who it reaches), or add it."""
    form = _posted()
    now = utcnow()
    try:
        draft = _draft(form, now)
        checked_question(draft)
        preview = preview_message(draft.wording, settings().org_name)
        with database().transaction() as s:
            reached = reach_of(s, draft, now=now)
            if request.form.get("do") == "add":
                question = add_question_recorded(
                    s, draft, actor=g.user.email, remote_addr=request.remote_addr
                )
                number = question.id
    except (BadInput, InvalidQuestion) as exc:
        return _page(form, error=_reason(exc), status=400)
    if request.form.get("do") != "add":
        return _page(form, preview=preview, reached=reached)
    flash(
        f"Question {number} added. It would be put to {reached} "
        f"resident{'' if reached == 1 else 's'} as things are now."
    )
    return redirect(url_for("checkins.index"))


@blueprint.post("/<int:question_id>/end")
@login_required(Role.OFFICER)
def end(question_id: int) -> ResponseReturnValue:
    """Stop asking a question from now on."""
    try:
        with database().transaction() as s:
            end_question(s, question_id, actor=g.user.email, remote_addr=request.remote_addr)
    except UnknownQuestion:
        return _page(error=f"There is no question {question_id}.", status=404)
    except InvalidQuestion as exc:
        flash(_reason(exc))
        return redirect(url_for("checkins.index"))
    flash(f"Question {question_id} ended: nobody will be asked it from now on.")
    return redirect(url_for("checkins.index"))
