"""The Loop page: for each theme and district, views lately, the newest update that reached
those residents and the share told of a change; the largest concerns with no answer first.
Analysts and above.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from bot.console import database
from bot.console.security import login_required
from bot.models import Role
from bot.services.loop import PERIOD, RECENT, loop_status
from bot.themes import is_theme

blueprint = Blueprint("loop", __name__)
HEADLINES = 5  # sentences above the table


@blueprint.get("/loop")
@login_required(Role.ANALYST)
def index() -> ResponseReturnValue:
    """Loop status by theme and district (?theme=, ?area= narrow it)."""
    theme = request.args.get("theme", "").strip()
    theme = theme if is_theme(theme) else ""
    area = request.args.get("area", "").strip().upper()[:8]
    with database().transaction() as s:
        rows = loop_status(s, theme=theme, area=area)
    unanswered = [row for row in rows if not row.told][:HEADLINES]
    return render_template(
        "loop.html",
        rows=rows,
        unanswered=unanswered,
        theme=theme,
        area=area,
        recent=RECENT,
        period=PERIOD,
    )
