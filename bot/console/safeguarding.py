"""Safeguarding alerts: residents' messages about danger, self-harm, abuse or a crime.

Only accounts with the safeguarding permission see this page, whatever their role;
marking an alert handled, or keeping one that is plainly an ordinary view as that view,
is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bot.console import database
from bot.console.curation import chosen_themes
from bot.console.forms import BadInput, page_number
from bot.console.security import login_required
from bot.models import Role, SafeguardingKind
from bot.services import dashboard as queries
from bot.services.curation import CurationError
from bot.services.safeguarding import (
    LABELS,
    AlreadyHandled,
    NotAnAlert,
    counts,
    keep_as_view,
    list_alerts,
    mark_handled,
)
from bot.services.users import has_role
from bot.services.views import NotAllowed
from bot.themes import catalogue, label

blueprint = Blueprint("safeguarding", __name__)
# Kinds whose false alarm is rare and whose true alert is a disclosure: a stronger "sure?".
DISCLOSURES = frozenset({SafeguardingKind.SELF_HARM, SafeguardingKind.ABUSE})
PAGE = 50
P = ParamSpec("P")


def safeguarding_required(
    view: Callable[P, ResponseReturnValue],
) -> Callable[P, ResponseReturnValue]:
    """Only signed-in accounts with the safeguarding permission (403 otherwise)."""

    @login_required(Role.ANALYST)
    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if not g.user.safeguarding:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@blueprint.get("/safeguarding")
@safeguarding_required
def index() -> ResponseReturnValue:
    """Open alerts first, newest first (handled ones too with ?all=1)."""
    page = page_number(request.args.get("page"))
    show_all = request.args.get("all") == "1"
    with database().transaction() as s:
        alerts = list_alerts(s, include_handled=show_all, limit=PAGE + 1, offset=(page - 1) * PAGE)
        totals = counts(s)
    return render_template(
        "safeguarding.html",
        alerts=alerts[:PAGE],
        more=len(alerts) > PAGE,
        page=page,
        show_all=show_all,
        totals=totals,
        labels=LABELS,
        themes=catalogue(),
        no_theme=queries.NO_THEME,
        can_keep=has_role(g.user.role, Role.OFFICER),
        disclosures=DISCLOSURES,
    )


@blueprint.post("/safeguarding/<int:alert_id>/handled")
@safeguarding_required
def handled(alert_id: int) -> ResponseReturnValue:
    """Mark one alert handled."""
    try:
        with database().transaction() as s:
            mark_handled(s, alert_id, actor=g.user.email, remote_addr=request.remote_addr)
    except NotAnAlert:
        abort(404)
    flash("Marked as handled.")
    return redirect(url_for("safeguarding.index"))


@blueprint.post("/safeguarding/<int:alert_id>/view")
@safeguarding_required
def keep(alert_id: int) -> ResponseReturnValue:
    """Keep one open alert as the ordinary view it plainly is, under the theme chosen.

    Officers and admins only: it writes a view, as curating does.
    """
    if not has_role(g.user.role, Role.OFFICER):
        abort(403)
    try:
        if not request.form.get("theme"):
            raise BadInput("no theme chosen")
        themes = chosen_themes(request.form)
        with database().transaction() as s:
            keep_as_view(s, alert_id, themes, actor=g.user.email, remote_addr=request.remote_addr)
    except NotAnAlert:
        abort(404)
    except AlreadyHandled:
        flash("This message was handled already.")
    except NotAllowed:
        flash(
            "This resident has not agreed to us keeping their views (or has stopped, or asked"
            " to be erased), so it stays here. Mark it handled when you have dealt with it."
        )
    except (BadInput, CurationError):
        flash("Choose a theme from the list.")
    except ValueError:  # no words to keep
        flash("This message has no words to keep as a view.")
    else:
        where = label(themes[0]) if themes else "Something else"
        flash(f"Kept as a view under {where}: counted, exported and targeted like any view now.")
    return redirect(url_for("safeguarding.index"))
