"""Signing in and out, and the health check."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from bot.console import database
from bot.console.security import start_session
from bot.services.users import authenticate, sign_out

blueprint = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only paths on this site: never an open redirect to someone else's."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("dashboard.index")


@blueprint.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Answers without a login, for process supervisors."""
    return {"ok": True}


@blueprint.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
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
        error = (
            "Too many failed sign-ins for this account or from this address. "
            "Wait 15 minutes, then try again."
            if outcome.throttled
            else "Wrong email address or password."
        )
        status = 429 if outcome.throttled else 401
        return render_template(
            "login.html", email=email, next=request.form.get("next", ""), error=error
        ), status
    start_session(user_id)
    return redirect(_safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    """Sign out everywhere (a POST with the CSRF token, so no other site can sign you out)."""
    if g.user is not None:
        with database().transaction() as s:
            sign_out(s, g.user.id, remote_addr=request.remote_addr)
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))
