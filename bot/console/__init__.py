"""The officer console: a server-rendered Flask app (see `create_app`)."""

from __future__ import annotations

import traceback
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, g, render_template, request, session
from werkzeug.exceptions import HTTPException

from bot.db import Database
from bot.models import ConsoleUser
from bot.services.users import session_is_current
from bot.settings import Settings
from bot.themes import catalogue, label

EXTENSION = "engage"


def create_app(settings: Settings, database: Database) -> Flask:
    """The console app for these settings and this database (nothing connects yet)."""
    from bot.console import (
        auth,
        checkins,
        curation,
        dashboard,
        exports,
        loop,
        residents,
        safeguarding,
        topics,
        updates,
        users,
        wording,
    )
    from bot.console.security import SESSION_HOURS, protect

    app = Flask(__name__)
    app.extensions[EXTENSION] = {"settings": settings, "database": database}
    protect(app, settings)
    zone = ZoneInfo(settings.timezone)

    @app.template_filter("when")
    def _when(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%d %b %Y, %H:%M") if value else ""

    app.jinja_env.filters.update(
        theme=label,
        channel=wording.channel_name,
        audit_action=wording.audit_action,
        audit_detail=wording.audit_detail,
        actor=wording.actor_name,
    )
    app.jinja_env.globals.update(
        org_name=settings.org_name, themes=catalogue(), session_hours=SESSION_HOURS
    )

    @app.before_request
    def _load_user() -> None:
        g.user = current_user(database)

    @app.context_processor
    def _user() -> dict:
        return {"user": g.get("user")}

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[str, int]:
        return render_template("error.html", error=error), error.code or 500

    @app.errorhandler(Exception)
    def _server_error(error: Exception) -> tuple[str, int]:
        # Where it failed, not the message: database errors quote residents' words.
        where = "".join(traceback.format_tb(error.__traceback__))
        app.logger.error("Console error %s on %s:\n%s", type(error).__name__, request.path, where)
        return render_template("error.html", error=None), 500

    for module in (
        auth, checkins, curation, dashboard, exports, loop, residents, safeguarding, topics,
        updates, users,
    ):  # fmt: skip
        app.register_blueprint(module.blueprint)
    return app


def current_user(database: Database) -> ConsoleUser | None:
    """The signed-in, still active user of this request, within the session's lifetime."""
    import time

    from bot.console.security import SESSION_HOURS

    user_id, since = session.get("uid"), session.get("since", 0)
    if user_id is None:
        return None
    if time.time() - since > SESSION_HOURS * 3600:
        session.clear()
        return None
    with database.transaction() as s:
        user = s.get(ConsoleUser, user_id)
    if user is None or user.disabled_at is not None or not session_is_current(user, since):
        session.clear()
        return None
    return user


def database() -> Database:
    """The database of the running app."""
    from flask import current_app

    return current_app.extensions[EXTENSION]["database"]


def settings() -> Settings:
    """The settings of the running app."""
    from flask import current_app

    return current_app.extensions[EXTENSION]["settings"]


def tracker_database() -> Database:
    """Rasa's tracker store (conversations): the console's own database if they share it."""
    from flask import current_app

    config = current_app.extensions[EXTENSION]
    if "tracker" not in config:
        from bot.tracker_store import tracker_database as shared_or_own

        config.setdefault("tracker", shared_or_own(settings().tracker_database_url, database()))
    return config["tracker"]
