"""Admins: accounts (create, disable, enable, change role) and the audit log."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bot.console import database
from bot.console.forms import page_number
from bot.console.security import login_required
from bot.models import Role
from bot.services import audit
from bot.services.users import (
    ROLES,
    InvalidUser,
    create_user,
    disable_user,
    enable_user,
    list_users,
    set_role,
    set_safeguarding,
)

blueprint = Blueprint("users", __name__)
AUDIT_PAGE = 50


def _page(form: dict | None = None, error: str | None = None, status: int = 200) -> tuple[str, int]:
    with database().transaction() as s:
        accounts = list_users(s)
    return render_template(
        "users.html", accounts=accounts, roles=ROLES, form=form or {}, error=error
    ), status


def _reason(exc: Exception) -> str:
    message = str(exc)
    return message[:1].upper() + message[1:] + "."


@blueprint.get("/users")
@login_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    """Every account, and the form to add one."""
    return _page()


@blueprint.post("/users")
@login_required(Role.ADMIN)
def create() -> ResponseReturnValue:
    """Add an account."""
    form = {k: request.form.get(k, "") for k in ("email", "name", "role")}
    try:
        with database().transaction() as s:
            create_user(
                s, **form, password=request.form.get("password", ""),
                actor=g.user.email, remote_addr=request.remote_addr,
            )  # fmt: skip
    except InvalidUser as exc:
        return _page(form, _reason(exc), 400)
    flash(f"Account created for {form['email'].strip().lower()}.")
    return redirect(url_for("users.index"))


@blueprint.post("/users/<int:user_id>/<any(disable, enable, role, safeguarding):change>")
@login_required(Role.ADMIN)
def change(user_id: int, change: str) -> ResponseReturnValue:
    """Disable or enable an account, change its role or its safeguarding permission."""
    who = {"actor": g.user.email, "remote_addr": request.remote_addr}
    try:
        with database().transaction() as s:
            if change == "disable":
                if user_id == g.user.id:
                    raise InvalidUser("you cannot disable your own account")
                account = disable_user(s, user_id, **who)
            elif change == "enable":
                account = enable_user(s, user_id, **who)
            elif change == "safeguarding":
                allowed = request.form.get("allowed") == "yes"
                account = set_safeguarding(s, user_id, allowed, **who)
            else:
                role = request.form.get("role", "")
                if user_id == g.user.id and role != g.user.role:
                    # Signed out at once, with no way back from the console: another admin
                    # changes it, as they would disable it.
                    raise InvalidUser("you cannot change your own role: ask another admin")
                account = set_role(s, user_id, role, **who)
            email = account.email
    except InvalidUser as exc:
        return _page(error=_reason(exc), status=400)
    flash(f"Saved: {email}.")
    return redirect(url_for("users.index"))


@blueprint.get("/audit")
@login_required(Role.ADMIN)
def audit_log() -> ResponseReturnValue:
    """Who published what and who changed which account, newest first."""
    page = page_number(request.args.get("page"))
    with database().transaction() as s:
        events, total = audit.latest_events(s, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE)
        names = {account.email: account.name for account in list_users(s)}
    pages = max(1, -(-total // AUDIT_PAGE))
    return render_template(
        "audit.html", events=events, page=page, pages=pages, total=total, names=names
    )
