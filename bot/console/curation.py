"""Officers curating views: re-theme, redact words, hide with a reason, mark answered; one
view from its page, or many from the views list ("Curate the picked views").

Officers and admins only; every change is audited by bot/services/curation.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from bot.console import database, tracker_database
from bot.console.dashboard import view_filter
from bot.console.forms import BadInput, numbers
from bot.console.security import login_required
from bot.models import Role
from bot.services import dashboard as queries
from bot.services.curation import (
    HIDE_REASONS,
    MAX_VIEWS,
    CurationError,
    UnknownView,
    answering_choices,
    hide,
    mark_answered,
    redact_everywhere,
    retheme,
    unhide,
)

blueprint = Blueprint("curation", __name__, url_prefix="/views")
FILTER_KEYS = ("q", "theme", "area", "channel", "since", "until", "hidden")


def _reason(exc: Exception) -> str:
    message = str(exc)
    return message[:1].upper() + message[1:] + "."


def _plural(n: int, word: str = "view") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def chosen_themes(form: MultiDict[str, str]) -> list[str]:
    """The themes a re-theme form asks for: its main theme, then the others ticked."""
    main = form.get("theme", "")
    also = [key for key in form.getlist("also") if key != main]
    if main == queries.NO_THEME or not main:
        if also:
            raise BadInput("Choose a main theme for a view that is also about other themes")
        return []
    return [main, *also]


def _view_page(view_id: int) -> ResponseReturnValue:
    return redirect(url_for("dashboard.view", view_id=view_id))


def _back(form: MultiDict[str, str]) -> str:
    """The views list the officer came from (its filters only: never another site)."""
    args = {key: form.get(f"back_{key}", "") for key in FILTER_KEYS}
    query = urlencode({k: v[:200] for k, v in args.items() if v})
    return url_for("dashboard.index") + (f"?{query}" if query else "") + "#latest"


# One view -------------------------------------------------------------------------------------


def _change_one(
    view_id: int, change: Callable[[Session], object], done: str
) -> ResponseReturnValue:
    """Make `change` to one view in one transaction, then back to its page saying `done`,
    or why not (404 for a view that does not exist)."""
    try:
        with database().transaction() as s:
            change(s)
    except UnknownView:
        abort(404)
    except (BadInput, CurationError) as exc:
        flash(_reason(exc))
        return _view_page(view_id)
    flash(done)
    return _view_page(view_id)


@blueprint.post("/<int:view_id>/theme")
@login_required(Role.OFFICER)
def set_theme(view_id: int) -> ResponseReturnValue:
    """Put one view under the themes the officer chose."""

    def change(s: Session) -> None:
        themes = chosen_themes(request.form)
        retheme(s, [view_id], themes, actor=g.user.email, remote_addr=request.remote_addr)

    return _change_one(
        view_id, change, "Theme changed: counts, exports and targeting follow it now."
    )


@blueprint.post("/<int:view_id>/redact")
@login_required(Role.OFFICER)
def redact(view_id: int) -> ResponseReturnValue:
    """Replace the ticked words with [redacted], here and in the conversation."""
    try:
        chosen = numbers(" ".join(request.form.getlist("word")), "Words")
        if not chosen:
            raise BadInput("no word was ticked")
        redact_everywhere(
            database(), tracker_database(), view_id, chosen, actor=g.user.email,
            expected=request.form.get("digest") or None, remote_addr=request.remote_addr,
        )  # fmt: skip
    except BadInput:
        flash("Tick the words to redact.")
        return _view_page(view_id)
    except UnknownView:
        abort(404)
    except CurationError as exc:
        flash(_reason(exc))
        return _view_page(view_id)
    flash(f"Redacted: {_plural(len(set(chosen)), 'word')} replaced with [redacted].")
    return _view_page(view_id)


@blueprint.post("/<int:view_id>/hide")
@login_required(Role.OFFICER)
def hide_one(view_id: int) -> ResponseReturnValue:
    """Hide one view, with a reason."""
    reason = request.form.get("reason", "")
    return _change_one(
        view_id,
        lambda s: hide(s, [view_id], reason, actor=g.user.email, remote_addr=request.remote_addr),
        "Hidden: it is left out of counts, exports, targeting and the views list.",
    )


@blueprint.post("/<int:view_id>/unhide")
@login_required(Role.OFFICER)
def unhide_one(view_id: int) -> ResponseReturnValue:
    """Show a hidden view again."""
    return _change_one(
        view_id,
        lambda s: unhide(s, view_id, actor=g.user.email, remote_addr=request.remote_addr),
        "Shown again: it counts, and is exported and targeted, as before.",
    )


@blueprint.post("/<int:view_id>/answered")
@login_required(Role.OFFICER)
def answered_one(view_id: int) -> ResponseReturnValue:
    """Link one view to the update that answered it."""
    update_id = request.form.get("update", "")

    def change(s: Session) -> None:
        if not update_id.isdigit():
            raise BadInput("Choose the update that answered it")
        mark_answered(s, [view_id], int(update_id), actor=g.user.email,
                      remote_addr=request.remote_addr)  # fmt: skip

    return _change_one(view_id, change, f"Marked answered by update {update_id}.")


# Many views -----------------------------------------------------------------------------------


@blueprint.get("/curate")
@login_required(Role.OFFICER)
def curate() -> ResponseReturnValue:
    """The picked views (?view=12&view=15), or every view of a filtered list (?all=1&...),
    with the forms to re-theme, hide or mark them answered."""
    wanted, errors = view_filter(request.args)
    picked = tuple(int(v) for v in request.args.getlist("view") if v.isdigit() and len(v) < 10)
    every = request.args.get("all") == "1"
    if not every:
        wanted = replace(queries.ViewFilter(ids=picked[:MAX_VIEWS]), hidden=wanted.hidden)
    with database().transaction() as s:
        if every or picked:
            page = queries.latest_views(s, wanted, 1, MAX_VIEWS)
        else:  # nothing ticked: nothing to curate (no ids would mean every view)
            page = queries.Page([], 0, 1, MAX_VIEWS)
        updates = answering_choices(s)
    back = {f"back_{k}": request.args.get(k, "") for k in FILTER_KEYS if request.args.get(k)}
    return render_template(
        "curate.html",
        page=page,
        errors=errors,
        every=every,
        updates=updates,
        reasons=HIDE_REASONS,
        back=back,
        no_theme=queries.NO_THEME,
        max_views=MAX_VIEWS,
    )


@blueprint.post("/curate")
@login_required(Role.OFFICER)
def curate_many() -> ResponseReturnValue:
    """Re-theme, hide or mark answered every view the curate page listed."""
    action = request.form.get("do", "")
    try:
        view_ids = numbers(" ".join(request.form.getlist("view")), "Views")
        with database().transaction() as s:
            if action == "retheme":
                themes = chosen_themes(request.form)
                retheme(s, view_ids, themes, actor=g.user.email, remote_addr=request.remote_addr)
                done = f"Re-themed {_plural(len(set(view_ids)))}."
            elif action == "hide":
                hide(s, view_ids, request.form.get("reason", ""), actor=g.user.email,
                     remote_addr=request.remote_addr)  # fmt: skip
                done = f"Hid {_plural(len(set(view_ids)))}."
            elif action == "answered":
                update_id = request.form.get("update", "")
                if not update_id.isdigit():
                    raise BadInput("Choose the update that answered them")
                mark_answered(s, view_ids, int(update_id), actor=g.user.email,
                              remote_addr=request.remote_addr)  # fmt: skip
                done = f"Marked {_plural(len(set(view_ids)))} answered by update {update_id}."
            else:
                abort(400)
    except (BadInput, CurationError) as exc:
        flash(f"Nothing changed: {_reason(exc)}")
        return redirect(_back(request.form))
    flash(done)
    return redirect(_back(request.form))
