"""Signing in and out, and the health check."""

from __future__ import annotations

import math
import unicodedata
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.urls import iri_to_uri

from bot.console import database
from bot.console.security import start_session
from bot.services.users import authenticate, sign_out

blueprint = Blueprint("auth", __name__)
MAX_NEXT = 2000


def _odd_character(text: str) -> bool:
    """Control, format and whitespace characters (ASCII or Unicode) and backslashes:
    browsers and URL parsers drop or reinterpret them, so "/\t/evil" becomes "//evil"."""
    return any(c == "\\" or c.isspace() or unicodedata.category(c)[0] in "CZ" for c in text)


def _only_a_path(url: str) -> bool:
    """A path on this site: starts with one "/", and has no scheme and no host."""
    parts = urlsplit(url)
    return (
        url.startswith("/")
        and not url.startswith("//")
        and not parts.scheme
        and not parts.netloc
        and parts.path.startswith("/")
        and not parts.path.startswith("//")
    )


def _safe_next(target: str | None) -> str:
    """Only paths on this site: never an open redirect to someone else's.

    Checked as given, as Werkzeug will send it (iri_to_uri, which drops tabs and newlines),
    and with its path percent-decoded (so "/%2F%2Fevil.example" is refused too).
    """
    fallback = url_for("dashboard.index")
    if not target or len(target) > MAX_NEXT or _odd_character(target):
        return fallback
    try:
        sent = iri_to_uri(target)
    except ValueError:  # e.g. a port that is not a number
        return fallback
    if not (_only_a_path(target) and _only_a_path(sent)):
        return fallback
    path = urlsplit(target).path
    for _ in range(3):  # twice-encoded too
        path = unquote(path)
        if _odd_character(path) or not _only_a_path(path):
            return fallback
    return target


def _minutes(wait: timedelta) -> str:
    """A wait in whole minutes, rounded up: "1 minute", "15 minutes"."""
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answers without a login, for process supervisors."""
    return {"ok": True}


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The sign-in form, and checking it."""
    if g.user is not None:
        return redirect(url_for("dashboard.index"))
    if request.method == "GET":
        return render_template("login.html", email="", next=request.args.get("next", ""))
    email = request.form.get("email", "")
    with database().transaction() as s:  # failures are kept even though sign-in fails
        outcome = authenticate(
            s, email, request.form.get("password", ""), request.remote_addr or "unknown"
        )
        user_id = outcome.user.id if outcome.user else None
    if user_id is None:
        headers = {}
        if outcome.throttled:
            error = (
                "Too many failed sign-ins from this address. "
                f"Wait {_minutes(outcome.wait)}, then try again."
            )
            headers["Retry-After"] = str(max(1, math.ceil(outcome.wait.total_seconds())))
        else:
            error = "Wrong email address or password."
        status = 429 if outcome.throttled else 401
        page = render_template(
            "login.html", email=email, next=request.form.get("next", ""), error=error
        )
        return page, status, headers
    start_session(user_id)
    return redirect(_safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out everywhere (a POST with the CSRF token, so no other site can sign you out)."""
    if g.user is not None:
        with database().transaction() as s:
            sign_out(s, g.user.id, remote_addr=request.remote_addr)
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))
