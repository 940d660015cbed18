"""The dashboard: views per theme over time, the latest views with filters, one view."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, g, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from bot.console import chart, database
from bot.console.forms import BadInput, day, page_number
from bot.console.security import login_required
from bot.models import Role
from bot.services import dashboard as queries
from bot.services.curation import (
    HIDE_REASONS,
    MAX_VIEWS,
    answering_choices,
    text_digest,
    words_of,
)
from bot.services.users import has_role

blueprint = Blueprint("dashboard", __name__)


def view_filter(args: MultiDict[str, str]) -> tuple[queries.ViewFilter, list[str]]:
    """The filter from the query string, and messages about fields that were ignored."""
    errors, dates = [], {}
    for name, what in (("since", "From"), ("until", "To")):
        try:
            dates[name] = day(args.get(name), what)
        except BadInput as exc:
            errors.append(str(exc))
    since, until = dates.get("since"), dates.get("until")
    if since and until and until < since:
        errors.append("To is before From: no view can be in between. Swap the two dates.")
    return (
        queries.ViewFilter(
            theme=args.get("theme", "").strip(),
            area=args.get("area", "").strip()[:8],
            channel=args.get("channel", "").strip()[:32],
            since=dates.get("since"),
            until=dates.get("until"),
            text=args.get("q", "").strip()[:200],
            hidden=args.get("hidden") == "1",
        ),
        errors,
    )


@blueprint.get("/")
@login_required(Role.ANALYST)
def index() -> ResponseReturnValue:
    """The chart and the filtered, paginated list of views."""
    wanted, errors = view_filter(request.args)
    if wanted.hidden and not has_role(g.user.role, Role.OFFICER):
        wanted = replace(wanted, hidden=False)  # hidden views are for those who curate
    with database().transaction() as s:
        counts = queries.views_per_week(s)
        page = queries.latest_views(s, wanted, page_number(request.args.get("page")))
        channels = queries.view_channels(s)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "dashboard.html",
        chart=chart.build(counts),
        page=page,
        wanted=wanted,
        channels=channels,
        errors=errors,
        args=args,
        no_theme=queries.NO_THEME,
        reasons=HIDE_REASONS,
        max_curate=MAX_VIEWS,
    )


@blueprint.get("/views/<int:view_id>")
@login_required(Role.ANALYST)
def view(view_id: int) -> ResponseReturnValue:
    """One view in full; for officers, the forms to curate it."""
    curating = has_role(g.user.role, Role.OFFICER)
    with database().transaction() as s:
        detail = queries.view_detail(s, view_id)
        updates = answering_choices(s) if curating and detail else []
    if detail is None:
        abort(404)
    return render_template(
        "view.html",
        detail=detail,
        curating=curating,
        words=words_of(detail.row.text) if curating else [],
        digest=text_digest(detail.row.text),
        updates=updates,
        reasons=HIDE_REASONS,
        no_theme=queries.NO_THEME,
    )
