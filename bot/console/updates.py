"""Composing, previewing and publishing updates; their delivery and residents' reactions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from bot.console import database, settings
from bot.console.forms import BadInput, day, midnight, numbers, words
from bot.console.security import login_required
from bot.models import Role, Stage, Update
from bot.services import dashboard as queries
from bot.services.updates import (
    InvalidUpdate,
    NobodyToTell,
    UpdateDraft,
    delete_draft,
    draft_recorded,
    preview_details,
    publish_recorded,
    revise_draft,
    update_message,
    update_template,
)
from bot.sms import GSM7_BASIC, GSM7_EXTENDED, MAX_SEGMENTS, TYPOGRAPHIC, segments
from bot.themes import is_theme

blueprint = Blueprint("updates", __name__, url_prefix="/updates")


def _sms_rules() -> dict[str, str]:
    """What the live preview script needs to count exactly as bot/sms.py does."""
    org_name = settings().org_name
    return {
        "template": update_template(org_name=org_name),
        "template_coming": update_template(coming=True, org_name=org_name),
        "plain": json.dumps(TYPOGRAPHIC),
        "gsm7": "".join(sorted(GSM7_BASIC)),
        "gsm7_ext": "".join(sorted(GSM7_EXTENDED)),
        "max_segments": str(MAX_SEGMENTS),
    }


def _compose(
    form: dict, error: str | None = None, status: int = 200, update_id: int | None = None
) -> tuple[str, int]:
    """The compose form; for an existing draft (`update_id`) it saves over that draft."""
    ids = form.get("view_ids", "")
    try:
        picked = numbers(ids, "Views")[:100]
    except BadInput:
        picked = []
    views = []
    if picked:
        with database().transaction() as s:
            views = queries.latest_views(s, queries.ViewFilter(ids=tuple(picked)), 1, 100).rows
    page = render_template(
        "compose.html", form=form, error=error, picked=views, sms=_sms_rules(), update_id=update_id
    )
    return page, status


def _posted_form() -> dict:
    """The compose form as posted (for showing it again)."""
    form: dict[str, Any] = {k: v for k, v in request.form.items() if k != "csrf_token"}
    form["themes"] = request.form.getlist("theme")
    return form


def _draft(form: dict) -> UpdateDraft:
    """The draft from the posted form; raises BadInput with a short reason."""
    return UpdateDraft(
        title=form.get("title", ""),
        you_said=form.get("you_said", ""),
        we_did=form.get("we_did", ""),
        themes=form["themes"],
        areas=words(form.get("areas")),
        since=midnight(day(form.get("since"), "From")),
        until=midnight(day(form.get("until"), "To"), days=1),  # the whole last day
        view_ids=numbers(form.get("view_ids"), "Views"),
        coming=form.get("stage") == Stage.COMING,
    )


def _reason(exc: Exception) -> str:
    message = str(exc)
    return message[:1].upper() + message[1:] + "."


@blueprint.get("")
@login_required(Role.ANALYST)
def index() -> ResponseReturnValue:
    """Every update, newest first."""
    with database().transaction() as s:
        rows = queries.list_updates(s)
        names = queries.account_names(s, [row.created_by for row in rows])
    return render_template("updates.html", rows=rows, names=names)


@blueprint.get("/new")
@login_required(Role.OFFICER)
def new() -> ResponseReturnValue:
    """The compose form (hand-picked views arrive as ?view=12&view=15, with ?theme=, ?area=)."""
    picked = ", ".join(v for v in request.args.getlist("view") if v.isdigit())
    themes = [t for t in request.args.getlist("theme") if is_theme(t)]
    area = request.args.get("area", "").strip().upper()[:8]
    return _compose({"view_ids": picked, "themes": themes, "areas": area})


@blueprint.post("/new")
@login_required(Role.OFFICER)
def create() -> ResponseReturnValue:
    """Save a draft and show its preview; the form again, with the reason, if it is wrong."""
    form = _posted_form()
    try:
        draft = _draft(form)
        with database().transaction() as s:
            update_id = draft_recorded(
                s, draft, actor=g.user.email, remote_addr=request.remote_addr
            ).id
    except (BadInput, InvalidUpdate) as exc:
        return _compose(form, _reason(exc), 400)
    return redirect(url_for("updates.show", update_id=update_id))


def _update_or_404(session: Session, update_id: int) -> Update:
    update = session.get(Update, update_id)
    if update is None:
        abort(404)
    return update


@blueprint.get("/<int:update_id>/edit")
@login_required(Role.OFFICER)
def edit(update_id: int) -> ResponseReturnValue:
    """The compose form, filled in from a draft."""
    with database().transaction() as s:
        update = _update_or_404(s, update_id)
        picked = queries.picked_views(s, update_id)
    if update.published_at is not None:
        flash("This update has been published, so it can no longer be changed.")
        return redirect(url_for("updates.show", update_id=update_id))
    themes, areas = queries.update_targets(update)
    form = {
        "title": update.title,
        "you_said": update.you_said,
        "we_did": update.we_did,
        "themes": themes,
        "areas": ", ".join(areas),
        "since": update.since.date().isoformat() if update.since else "",
        "until": (update.until - timedelta(days=1)).date().isoformat() if update.until else "",
        "view_ids": ", ".join(str(i) for i in picked),
        "stage": update.stage,
    }
    return _compose(form, update_id=update_id)


@blueprint.post("/<int:update_id>/edit")
@login_required(Role.OFFICER)
def revise(update_id: int) -> ResponseReturnValue:
    """Save the changed draft and show its preview again."""
    form = _posted_form()
    try:
        draft = _draft(form)
        with database().transaction() as s:
            _update_or_404(s, update_id)
            revise_draft(s, update_id, draft, actor=g.user.email, remote_addr=request.remote_addr)
    except (BadInput, InvalidUpdate) as exc:
        return _compose(form, _reason(exc), 400, update_id=update_id)
    flash("Draft saved.")
    return redirect(url_for("updates.show", update_id=update_id))


@blueprint.post("/<int:update_id>/delete")
@login_required(Role.OFFICER)
def remove(update_id: int) -> ResponseReturnValue:
    """Delete a draft (a published update stays: residents were told)."""
    try:
        with database().transaction() as s:
            _update_or_404(s, update_id)
            delete_draft(s, update_id, actor=g.user.email, remote_addr=request.remote_addr)
    except InvalidUpdate as exc:
        flash(_reason(exc))
        return redirect(url_for("updates.show", update_id=update_id))
    flash("Draft deleted.")
    return redirect(url_for("updates.index"))


@blueprint.get("/<int:update_id>")
@login_required(Role.ANALYST)
def show(update_id: int) -> ResponseReturnValue:
    """A draft's exact message and recipients, or a published update's delivery."""
    with database().transaction() as s:
        update = _update_or_404(s, update_id)
        themes, areas = queries.update_targets(update)
        picked = queries.picked_views(s, update_id)
        details = preview_details(s, update) if update.published_at is None else None
        names = queries.account_names(s, [update.created_by])
        sent = queries.delivery(s, update_id) if update.published_at else None
        reacted = queries.reactions(s, update_id) if update.published_at else None
    message = update_message(
        update.you_said,
        update.we_did,
        coming=update.stage == Stage.COMING,
        org_name=settings().org_name,
    )
    encoding, parts = segments(message)
    return render_template(
        "update.html",
        update=update,
        themes=themes,
        areas=areas,
        picked=picked,
        message=message,
        encoding=encoding,
        parts=parts,
        details=details,
        counts=details.counts if details else None,
        names=names,
        delivery=sent,
        reactions=reacted,
        validity_hours=f"{settings().message_validity_hours:g}",  # "48": expired after that
    )


@blueprint.get("/<int:update_id>/delivery.json")
@login_required(Role.ANALYST)
def delivery_json(update_id: int) -> ResponseReturnValue:
    """Counts by status, for the delivery page's refresh script."""
    with database().transaction() as s:
        _update_or_404(s, update_id)
        sent = queries.delivery(s, update_id)
    return {"counts": sent.counts, "total": sent.total, "in_flight": sent.in_flight}


@blueprint.post("/<int:update_id>/publish")
@login_required(Role.OFFICER)
def publish(update_id: int) -> ResponseReturnValue:
    """Queue the update for its recipients, once, with its audit event."""
    try:
        with database().transaction() as s:
            _update_or_404(s, update_id)
            queued = publish_recorded(
                s, update_id, actor=g.user.email, remote_addr=request.remote_addr
            )
    except NobodyToTell:
        flash("Nobody to tell: this update reaches no resident, so it was not published.")
        return redirect(url_for("updates.show", update_id=update_id))
    if queued is None:
        flash("This update was already published: nobody has been told twice.")
    else:
        flash(f"Published: {queued} residents will be told.")
    return redirect(url_for("updates.show", update_id=update_id))
