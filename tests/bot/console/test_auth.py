"""Signing in: passwords, throttling, CSRF, cookies, headers, roles and sessions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.console import create_app
from bot.models import AuditEvent, ConsoleUser, LoginFailure
from bot.services.users import disable_user, enable_user, set_role, user_by_email
from tests.bot.console.conftest import PASSWORD, StolenCookie, csrf


def _login(client, email: str, password: str):
    data = {"email": email, "password": password, "csrf_token": csrf(client)}
    return client.post("/login", data=data)


def _from(app, address: str):
    """A test client whose requests come from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _age_failures(database, seconds: float) -> None:
    """Move every failed sign-in `seconds` into the past (as if that time had passed)."""
    with database.transaction() as s:
        for failure in s.scalars(select(LoginFailure)):
            failure.created_at -= timedelta(seconds=seconds)


def test_every_page_needs_a_login_except_login_and_health(app):
    client = app.test_client()
    for path in ("/", "/views/1", "/updates", "/updates/new", "/updates/1", "/users", "/audit"):
        reply = client.get(path)
        assert reply.status_code == 302 and "/login" in reply.headers["Location"], path
    assert client.get("/healthz").json == {"ok": True}
    assert client.get("/login").status_code == 200


def test_sign_in_and_out(app, accounts, database):
    client = app.test_client()
    reply = _login(client, "  Officer@Council.example ", PASSWORD)
    assert reply.status_code == 302 and reply.headers["Location"] == "/"
    assert "Officer (officer)" in client.get("/").get_data(as_text=True)
    with database.transaction() as s:
        assert user_by_email(s, "officer@council.example").last_login_at is not None
        assert s.scalar(select(func.count()).where(AuditEvent.action == "login.success")) == 1
    assert client.post("/logout", data={"csrf_token": csrf(client)}).status_code == 302
    assert client.get("/").status_code == 302


def test_signing_out_ends_every_session_of_the_account(app, accounts, database):
    laptop = app.test_client()
    assert _login(laptop, "officer@council.example", PASSWORD).status_code == 302
    stolen = _copy(app, laptop)
    assert stolen.get("/").status_code == 200  # a copy of the cookie works until...
    assert laptop.post("/logout", data={"csrf_token": csrf(laptop)}).status_code == 302
    assert stolen.get("/").status_code == 302  # ...the officer signs out
    with database.transaction() as s:
        assert s.scalar(select(func.count()).where(AuditEvent.action == "logout")) == 1
    assert _login(laptop, "officer@council.example", PASSWORD).status_code == 302
    assert laptop.get("/").status_code == 200  # signing in again starts a new session
    assert stolen.get("/").status_code == 302


def test_a_wrong_password_or_unknown_account_is_refused_alike(app, accounts):
    client = app.test_client()
    for email in ("officer@council.example", "nobody@council.example"):
        reply = _login(client, email, "wrong password!!")
        assert reply.status_code == 401
        assert "Wrong email address or password." in reply.get_data(as_text=True)
    assert client.get("/").status_code == 302


OFF_SITE = [
    "//evil.example",
    "//evil.example/",
    "/\\evil.example",
    "/%09/evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    "/\x7f/evil.example/",
    "/\u3000/evil.example/",
    "/\u200b/evil.example/",
    "https://evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "\\\\evil",
    " //evil",
    "///evil.example",
    "evil.example",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_only_local_paths_after_sign_in(app, accounts, target):
    client = app.test_client()
    data = {"email": "analyst@council.example", "password": PASSWORD, "next": target}
    reply = client.post("/login", data={**data, "csrf_token": csrf(client)})
    assert reply.status_code == 302 and reply.headers["Location"] == "/"


def test_the_reported_tab_redirect_goes_to_the_dashboard(app, accounts):
    client = app.test_client()
    page = client.get("/login?next=/%09/evil.example/").get_data(as_text=True)
    kept = re.search(r'name="next" value="([^"]*)"', page).group(1)  # the page keeps it...
    data = {"email": "analyst@council.example", "password": PASSWORD, "next": kept}
    reply = client.post("/login", data={**data, "csrf_token": csrf(client)})
    assert reply.headers["Location"] == "/"  # ...but sign-in never follows it off the site


@pytest.mark.parametrize("target", ["/updates?x=1", "/views/12", "/?theme=waste_recycling&page=2"])
def test_a_path_on_this_site_is_kept_after_sign_in(app, accounts, target):
    client = app.test_client()
    data = {"email": "analyst@council.example", "password": PASSWORD, "next": target}
    reply = client.post("/login", data={**data, "csrf_token": csrf(client)})
    assert reply.status_code == 302 and reply.headers["Location"] == target


def test_failures_elsewhere_do_not_lock_the_officer_out(app, accounts, database):
    attacker, officer = _from(app, "203.0.113.7"), _from(app, "198.51.100.20")
    for _ in range(5):
        assert _login(attacker, "officer@council.example", "not the password").status_code == 401
    refused = _login(attacker, "officer@council.example", PASSWORD)  # right, but too soon
    assert refused.status_code == 429
    assert "Wait 1 minute, then try again." in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert _login(officer, "officer@council.example", PASSWORD).status_code == 302
    assert officer.get("/").status_code == 200
    with database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 5  # refusals not kept


def test_from_one_address_the_wait_doubles_up_to_15_minutes(app, accounts, database):
    attacker = _from(app, "203.0.113.7")
    for _ in range(5):
        assert _login(attacker, "officer@council.example", "not the password").status_code == 401
    for minutes in (1, 2, 4, 8, 15, 15):
        reply = _login(attacker, "officer@council.example", "another guess!")
        assert reply.status_code == 429
        unit = "minute" if minutes == 1 else "minutes"
        assert f"Wait {minutes} {unit}, then try again." in reply.get_data(as_text=True)
        assert minutes * 60 - 5 < int(reply.headers["Retry-After"]) <= minutes * 60
        _age_failures(database, minutes * 60 - 2)  # not quite long enough...
        assert _login(attacker, "officer@council.example", "guess!!").status_code == 429
        _age_failures(database, 3)  # ...now it is: one more guess, then a longer wait
        assert _login(attacker, "officer@council.example", "guess!!").status_code == 401
    assert _login(attacker, "analyst@council.example", PASSWORD).status_code == 302  # others fine


def test_signing_in_from_an_address_forgets_its_failures(app, accounts, database):
    client = _from(app, "198.51.100.20")
    for _ in range(5):
        assert _login(client, "officer@council.example", "a typo, again").status_code == 401
    _age_failures(database, 61)
    assert _login(client, "officer@council.example", PASSWORD).status_code == 302
    again = _from(app, "198.51.100.20")
    assert _login(again, "officer@council.example", "one more typo").status_code == 401
    assert _login(again, "officer@council.example", PASSWORD).status_code == 302


def test_failures_are_forgotten_after_a_day(app, accounts, database):
    attacker = _from(app, "203.0.113.7")
    for _ in range(9):
        with database.transaction() as s:
            s.add(LoginFailure(email="officer@council.example", remote_addr="203.0.113.7"))
    assert _login(attacker, "officer@council.example", PASSWORD).status_code == 429
    _age_failures(database, 24 * 3600 + 1)
    assert _login(attacker, "officer@council.example", PASSWORD).status_code == 302


def test_twenty_failures_from_one_address_lock_that_address(app, accounts, database):
    with database.transaction() as s:
        for n in range(20):
            s.add(LoginFailure(email=f"guess{n}@x.example", remote_addr="127.0.0.1"))
    client = app.test_client()
    reply = _login(client, "analyst@council.example", PASSWORD)
    assert reply.status_code == 429 and "Wait 15 minutes" in reply.get_data(as_text=True)
    assert _login(_from(app, "198.51.100.20"), "analyst@council.example", PASSWORD).status_code == (
        302
    )  # another address is not held back
    _age_failures(database, 15 * 60 + 1)
    assert _login(app.test_client(), "analyst@council.example", PASSWORD).status_code == 302


def test_a_disabled_account_cannot_sign_in_and_is_signed_out(app, accounts, database, signed_in):
    client = signed_in("officer")
    with database.transaction() as s:
        disable_user(s, user_by_email(s, "officer@council.example").id, actor="test")
    assert client.get("/").status_code == 302  # the open session ends at once
    assert _login(app.test_client(), "officer@council.example", PASSWORD).status_code == 401


def _copy(app, client) -> StolenCookie:
    """A copy of `client`'s session cookie."""
    return StolenCookie(app, client)


def test_re_enabling_an_account_does_not_bring_its_old_sessions_back(
    app, accounts, database, signed_in
):
    officer = signed_in("officer")
    stolen = _copy(app, officer)
    assert stolen.get("/").status_code == 200
    with database.transaction() as s:
        officer_id = user_by_email(s, "officer@council.example").id
        disable_user(s, officer_id, actor="test")
    with database.transaction() as s:
        assert s.get(ConsoleUser, officer_id).signed_out_at is not None
        enable_user(s, officer_id, actor="test")
    for client in (officer, stolen):
        reply = client.get("/")
        assert reply.status_code == 302 and reply.headers["Location"].startswith("/login")
    assert _login(app.test_client(), "officer@council.example", PASSWORD).status_code == 302


def test_a_role_change_ends_the_accounts_sessions(app, accounts, database, signed_in):
    officer = signed_in("officer")
    stolen = _copy(app, officer)
    with database.transaction() as s:
        set_role(s, user_by_email(s, "officer@council.example").id, "analyst", actor="test")
    for client in (officer, stolen):
        reply = client.get("/updates")
        assert reply.status_code == 302 and reply.headers["Location"].startswith("/login")
    fresh = signed_in("officer")  # the same password; now an analyst
    assert fresh.get("/updates").status_code == 200 and fresh.get("/updates/new").status_code == 403


def test_posts_without_the_csrf_token_are_refused(app, accounts, signed_in):
    reply = app.test_client().post(
        "/login", data={"email": "officer@council.example", "password": PASSWORD}
    )
    assert reply.status_code == 400
    assert "did not come from this console" in reply.get_data(as_text=True)
    client = signed_in("admin")
    for path in ("/logout", "/updates/new", "/users", "/updates/1/publish"):
        bad = client.post(path, data={"csrf_token": "forged"})
        assert bad.status_code == 400, path
    assert client.get("/").status_code == 200  # still signed in


def test_cookie_flags_and_secure_over_https(app, accounts):
    client = app.test_client()
    reply = _login(client, "analyst@council.example", PASSWORD)
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Expires=" in cookie  # a lifetime (8 hours), not a browser-session cookie
    secure = app.test_client()
    token = csrf(secure)
    reply = secure.post(
        "/login",
        data={"email": "analyst@council.example", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-Proto": "https"},  # the local reverse proxy terminated TLS
    )
    assert "Secure" in reply.headers["Set-Cookie"]
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")


def test_forwarded_headers_are_not_trusted_off_loopback(settings, database, accounts):
    from dataclasses import replace

    exposed = create_app(replace(settings, console_host="0.0.0.0"), database)
    client = exposed.test_client()
    reply = client.post(
        "/login",
        data={"email": "analyst@council.example", "password": PASSWORD, "csrf_token": csrf(client)},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" not in reply.headers["Set-Cookie"]


def test_security_headers_on_every_page(app, signed_in):
    for reply in (app.test_client().get("/login"), signed_in("analyst").get("/")):
        assert reply.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Referrer-Policy"] == "same-origin"
    assert signed_in("analyst").get("/").headers["Cache-Control"] == "no-store"


def test_roles(signed_in, seeded):
    analyst, officer = signed_in("analyst"), signed_in("officer")
    assert analyst.get("/").status_code == 200
    assert analyst.get("/updates").status_code == 200
    assert analyst.get("/updates/new").status_code == 403
    assert analyst.post("/updates/new", data={"csrf_token": csrf(analyst)}).status_code == 403
    assert analyst.post("/updates/1/publish", data={"csrf_token": csrf(analyst)}).status_code == 403
    assert officer.get("/updates/new").status_code == 200
    assert officer.get("/users").status_code == 403
    assert officer.get("/audit").status_code == 403
    assert officer.post("/users", data={"csrf_token": csrf(officer)}).status_code == 403
    assert "Not allowed" in officer.get("/users").get_data(as_text=True)


def test_an_old_session_ends_after_8_hours(signed_in):
    client = signed_in("analyst")
    with client.session_transaction() as session:
        session["since"] -= 8 * 3600 + 1
    assert client.get("/").status_code == 302


def test_friendly_errors(signed_in, app, monkeypatch, caplog):
    client = signed_in("analyst")
    reply = client.get("/no/such/page")
    assert reply.status_code == 404 and "Page not found" in reply.get_data(as_text=True)

    secret = "boom: a secret detail"

    def broken(*args, **kwargs):
        raise RuntimeError(secret)

    monkeypatch.setattr("bot.services.dashboard.views_per_week", broken)
    app.config["TESTING"] = False  # as in production: no exception reaches the browser
    app.config["PROPAGATE_EXCEPTIONS"] = False
    reply = client.get("/")
    assert reply.status_code == 500
    page = reply.get_data(as_text=True)
    assert "Something went wrong" in page and "secret detail" not in page
    assert "RuntimeError" in caplog.text and "secret detail" not in caplog.text  # no data in logs


@pytest.mark.parametrize("key", ["", "configured-key-0123456789"])
def test_the_secret_key_is_kept_or_configured(settings, database, key):
    from dataclasses import replace

    configured = replace(settings, console_secret_key=key)
    first, second = create_app(configured, database), create_app(configured, database)
    assert first.secret_key == second.secret_key
    path = settings.var_dir / "console_secret_key"
    if key:
        assert first.secret_key == key and not path.exists()
    else:
        assert path.stat().st_mode & 0o777 == 0o600 and len(first.secret_key) >= 40
