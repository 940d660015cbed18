"""The accounts page and the audit log (admins only)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.models import AuditEvent, ConsoleUser
from bot.services.users import InvalidUser, create_user, set_role, user_by_email
from tests.bot.console.conftest import PASSWORD, StolenCookie, csrf, sign_in


def _post(client, path: str, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client)})


def test_admin_creates_changes_and_disables_accounts(app, signed_in, database):
    admin = signed_in("admin")
    reply = _post(
        admin, "/users", email="New.Officer@council.example", name="New Officer",
        role="analyst", password="a long enough password",
    )  # fmt: skip
    assert reply.status_code == 302
    with database.transaction() as s:
        new = user_by_email(s, "new.officer@council.example")
        assert new.password_hash.startswith("$argon2id$") and new.role == "analyst"
    assert _post(admin, f"/users/{new.id}/role", role="officer").status_code == 302
    assert _post(admin, f"/users/{new.id}/disable").status_code == 302
    assert _post(admin, f"/users/{new.id}/enable").status_code == 302
    with database.transaction() as s:
        assert s.get(ConsoleUser, new.id).role == "officer"
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    changes = [(e.action, e.target) for e in events if e.action.startswith("user.")]
    assert changes[-4:] == [
        ("user.create", f"user:{new.id}"), ("user.role", f"user:{new.id}"),
        ("user.disable", f"user:{new.id}"), ("user.enable", f"user:{new.id}"),
    ]  # fmt: skip
    assert all(e.actor == "admin@council.example" for e in events[-4:])
    assert "a long enough password" not in str([e.detail for e in events])
    log = admin.get("/audit").get_data(as_text=True)
    assert "Changed a role" in log and "Signed in" in log
    assert "login.success" not in log and "{}" not in log


def test_bad_account_input_is_explained(signed_in, database):
    admin = signed_in("admin")
    for data, message in (
        ({"email": "x@council.example", "name": "X", "role": "officer", "password": "short"},
         "The password must be at least 12 characters."),
        ({"email": "not an email", "name": "X", "role": "officer", "password": PASSWORD},
         "Give a valid email address."),
        ({"email": "officer@council.example", "name": "X", "role": "officer",
          "password": PASSWORD}, "There is already an account with that email address."),
        ({"email": "y@council.example", "name": "Y", "role": "boss", "password": PASSWORD},
         "The role must be one of analyst, officer, admin."),
        ({"email": "z@council.example", "name": "  ", "role": "officer", "password": PASSWORD},
         "Give the person&#39;s name."),
        ({"email": "z@council.example", "name": "Z" * 121, "role": "officer",
          "password": PASSWORD}, "Give a name of at most 120 characters."),
    ):  # fmt: skip
        reply = _post(admin, "/users", **data)
        assert reply.status_code == 400 and message in reply.get_data(as_text=True), message


def test_the_last_admin_and_oneself_are_protected(signed_in, database):
    admin = signed_in("admin")
    with database.transaction() as s:
        me = user_by_email(s, "admin@council.example").id
    reply = _post(admin, f"/users/{me}/role", role="officer")
    assert reply.status_code == 400
    assert "cannot change your own role" in reply.get_data(as_text=True)
    reply = _post(admin, f"/users/{me}/disable")
    assert "cannot disable your own account" in reply.get_data(as_text=True)
    with database.transaction() as s:
        assert s.get(ConsoleUser, me).role == "admin"
        with pytest.raises(InvalidUser, match="last active admin"):  # the CLI's way too
            set_role(s, me, "officer", actor="cli:test")
    # Not the last admin either: still not by oneself (it would sign them out for good).
    with database.transaction() as s:
        create_user(s, email="bea@council.example", name="Bea", role="admin", password=PASSWORD,
                    actor="t")  # fmt: skip
    reply = _post(admin, f"/users/{me}/role", role="analyst")
    assert reply.status_code == 400
    assert "cannot change your own role" in reply.get_data(as_text=True)
    with database.transaction() as s:
        assert s.get(ConsoleUser, me).role == "admin"


def test_a_role_change_applies_at_once(app, signed_in, database):
    officer = signed_in("officer")
    admin = signed_in("admin")
    with database.transaction() as s:
        officer_id = user_by_email(s, "officer@council.example").id
    _post(admin, f"/users/{officer_id}/role", role="analyst")
    assert officer.get("/updates/new").headers["Location"].startswith("/login")  # signed out
    fresh = app.test_client()
    sign_in(fresh, "officer")  # same password, now an analyst
    assert fresh.get("/updates/new").status_code == 403


def _copied_session(app, signed_in, role: str):
    """A copy of a fresh session's cookie for `role`."""
    copy = StolenCookie(app, signed_in(role))
    assert copy.get("/").status_code == 200
    return copy


def _sent_to_sign_in(client) -> bool:
    reply = client.get("/")
    return reply.status_code == 302 and reply.headers["Location"].startswith("/login")


def test_disabling_enabling_or_a_role_change_signs_the_account_out(app, signed_in, database):
    admin = signed_in("admin")
    with database.transaction() as s:
        officer_id = user_by_email(s, "officer@council.example").id
    copied = _copied_session(app, signed_in, "officer")
    assert _post(admin, f"/users/{officer_id}/disable").status_code == 302
    assert _sent_to_sign_in(copied)
    assert _post(admin, f"/users/{officer_id}/enable").status_code == 302
    assert _sent_to_sign_in(copied)  # re-enabling does not bring the old session back
    copied = _copied_session(app, signed_in, "officer")
    assert _post(admin, f"/users/{officer_id}/role", role="analyst").status_code == 302
    assert _sent_to_sign_in(copied)
    with database.transaction() as s:
        assert s.get(ConsoleUser, officer_id).signed_out_at is not None
