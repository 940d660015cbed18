"""The officer console, attacked: anonymous visitors, the wrong role, forged posts, open
redirects, fixed or copied session cookies, password guessing, and missing headers.

Pages and forms are enumerated from the app's url_map, so a new page or form fails here
until it is given its place in GET_ACCESS or POST_ACCESS.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from bot.console.security import CSP
from bot.models import LoginFailure, View, metadata
from bot.services.checkins import QuestionDraft, add_question
from bot.services.safeguarding import record_alert
from bot.services.updates import UpdateDraft, draft_update
from bot.services.users import (
    disable_user,
    enable_user,
    set_role,
    set_safeguarding,
    user_by_email,
)
from tests.bot.console import conftest as console
from tests.bot.console.conftest import PASSWORD, StolenCookie, csrf
from tests.residents import NOW

# The console's fixtures (tests/bot/console/conftest.py), for this module only.
app, accounts, seeded, signed_in = console.app, console.accounts, console.seeded, console.signed_in
quick_hashing = console.quick_hashing  # autouse: cheap argon2 parameters

ROLES = ("analyst", "officer", "admin")
SAFEGUARDING = "safeguarding"  # the permission, whatever the role
OFFICER_SAFEGUARDING = "officer+safeguarding"  # the permission, and at least an officer
PUBLIC = None
# Who may open each page (the lowest role, or the safeguarding permission).
GET_ACCESS = {
    "auth.login": PUBLIC,
    "auth.healthz": PUBLIC,
    "static": PUBLIC,
    "dashboard.index": "analyst",
    "dashboard.view": "analyst",
    "exports.index": "analyst",
    "updates.index": "analyst",
    "updates.show": "analyst",
    "updates.delivery_json": "analyst",
    "updates.new": "officer",
    "updates.edit": "officer",
    "users.index": "admin",
    "users.audit_log": "admin",
    "residents.index": "admin",
    "safeguarding.index": SAFEGUARDING,
    "checkins.index": "officer",
    "curation.curate": "officer",
    "loop.index": "analyst",
    "topics.index": "analyst",
}
# Who may send each form.
POST_ACCESS = {
    "auth.login": PUBLIC,
    "auth.logout": "analyst",
    "exports.download": "analyst",
    "updates.create": "officer",
    "updates.revise": "officer",
    "updates.remove": "officer",
    "updates.publish": "officer",
    "users.create": "admin",
    "users.change": "admin",
    "residents.find": "admin",
    "residents.export": "admin",
    "residents.erase": "admin",
    "safeguarding.handled": SAFEGUARDING,
    "safeguarding.keep": OFFICER_SAFEGUARDING,
    "checkins.add": "officer",
    "checkins.end": "officer",
    "curation.set_theme": "officer",
    "curation.redact": "officer",
    "curation.hide_one": "officer",
    "curation.unhide_one": "officer",
    "curation.answered_one": "officer",
    "curation.curate_many": "officer",
    "topics.merge": "officer",
    "topics.propose": "officer",
}
# What each form would need to do its work, had it been let through.
FORMS = {
    "auth.login": {"email": "admin@council.example", "password": PASSWORD},
    "exports.download": {"kind": "views", "format": "csv"},
    "updates.create": {
        "title": "Later buses", "you_said": "buses stop too early",
        "we_did": "The 42 runs later.", "theme": "roads_transport",
    },
    "updates.revise": {
        "title": "Changed", "you_said": "buses stop too early",
        "we_did": "The 42 runs later.", "theme": "roads_transport",
    },
    "users.create": {
        "email": "mole@council.example", "name": "Mole", "role": "admin",
        "password": "a long enough password",
    },
    "users.change": {"role": "admin", "allowed": "yes"},
    "residents.find": {"channel": "sms", "address": "+447700900001"},
    "residents.erase": {"confirm": "ERASE"},
    "checkins.add": {"wording": "How are the buses?", "do": "add"},
    "safeguarding.keep": {"theme": "housing"},
    "curation.set_theme": {"theme": "housing"},
    "curation.redact": {"word": "0"},
    "curation.hide_one": {"reason": "spam"},
    "curation.curate_many": {"do": "hide", "reason": "spam", "view": "1"},
    "topics.merge": {"theme": "housing", "view": "1"},
    "topics.propose": {"key": "e_scooters", "label": "Scooters", "description": "d", "view": "1"},
}  # fmt: skip
CHANGES = ("disable", "enable", "role", "safeguarding")  # users.change's <any(...)>
SEND_TO_SIGN_IN = "/login?next="
OFF_SITE = [
    "//evil.example",
    "//evil.example/",
    "/\\evil.example",
    "/%09/evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\x7f/evil.example/",
    "/\u3000/evil.example/",
    "/\u2028/evil.example/",
    "/\u200b/evil.example/",
    "https://evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5C/evil.example",
    "/%252F%252Fevil.example",
    "\\\\evil",
    " //evil",
    "\t//evil",
    "///evil.example",
    "evil.example",
]


@pytest.fixture
def world(database, accounts, seeded):
    """A view, a draft update, a safeguarding alert, and the ids pages take."""
    with database.transaction() as s:
        update = draft_update(
            s,
            UpdateDraft(
                title="Later buses",
                you_said="buses stop too early",
                we_did="The 42 runs later.",
                themes=["roads_transport"],
            ),
            created_by="test",
        )
        alert = record_alert(s, "conv-1", kind="abuse", text="he hits me", channel="telegram")
        question = add_question(s, QuestionDraft(wording="How are the buses?", starts_at=NOW))
        ids = {
            "question_id": question.id,
            "view_id": seeded["bus_sms"],
            "update_id": update.id,
            "alert_id": alert.id,
            "user_id": user_by_email(s, "officer@council.example").id,
            "resident_id": s.get(View, seeded["bus_sms"]).resident_id,
            "filename": "console.css",
        }
    return ids


def _urls(app: Flask, method: str, ids: dict) -> list[tuple[str, str]]:
    """(endpoint, URL) of every rule answering `method`, with sample values for its parts."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if method not in rule.methods:
                continue
            if "change" in rule.arguments:
                values = [{"change": change} for change in CHANGES]
            else:
                values = [{}]
            for extra in values:
                args = {name: ids[name] for name in rule.arguments if name != "change"}
                found.append((rule.endpoint, app.url_for(rule.endpoint, **args, **extra)))
    return found


def _may(role: str, safeguarding: bool, needed: str | None) -> bool:
    if needed is PUBLIC:
        return True
    if needed == SAFEGUARDING:
        return safeguarding
    if needed == OFFICER_SAFEGUARDING:
        return safeguarding and ROLES.index(role) >= ROLES.index("officer")
    return ROLES.index(role) >= ROLES.index(needed)


def _everything(database) -> dict[str, list]:
    """Every row of every table: to show that a refused request changed nothing."""
    with database.engine.connect() as connection:
        return {
            table.name: sorted(map(tuple, connection.execute(table.select()).all()), key=repr)
            for table in metadata.sorted_tables
        }


def _permit(database, role: str) -> None:
    with database.transaction() as s:
        user = user_by_email(s, f"{role}@council.example")
        set_safeguarding(s, user.id, True, actor="test")


def _login(client, email: str, password: str, **extra):
    data = {"email": email, "password": password, "csrf_token": csrf(client), **extra}
    return client.post("/login", data=data)


def _sent_to_sign_in(reply) -> bool:
    return reply.status_code == 302 and reply.headers["Location"].startswith("/login")


def _copy(app, client) -> StolenCookie:
    return StolenCookie(app, client)


def _from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


# --- Every page and form is classified, and refuses anonymous visitors ---------------------


def test_every_page_and_form_is_classified(app, world):
    assert {e for e, _ in _urls(app, "GET", world)} == set(GET_ACCESS)
    assert {e for e, _ in _urls(app, "POST", world)} == set(POST_ACCESS)


def test_every_page_refuses_anonymous_visitors(app, world):
    client = app.test_client()
    for endpoint, url in _urls(app, "GET", world):
        reply = client.get(url)
        if GET_ACCESS[endpoint] is PUBLIC:
            assert reply.status_code == 200, url
        else:
            assert reply.status_code == 302, url
            assert reply.headers["Location"].startswith(SEND_TO_SIGN_IN), url
            assert reply.get_data(as_text=True).count("buses") == 0, url


def test_pages_for_missing_things_do_not_tell_anonymous_visitors_they_are_missing(app, world):
    missing = {**world, **{k: 999999 for k in world if k.endswith("_id")}}
    client = app.test_client()
    for endpoint, url in _urls(app, "GET", missing):
        if GET_ACCESS[endpoint] is not PUBLIC:
            assert client.get(url).headers["Location"].startswith(SEND_TO_SIGN_IN), url


def test_every_form_refuses_anonymous_visitors_even_with_a_token(app, world, database):
    client = app.test_client()
    before = _everything(database)
    for endpoint, url in _urls(app, "POST", world):
        if POST_ACCESS[endpoint] is PUBLIC:
            continue
        token = csrf(client)  # an anonymous session's token: it signs nobody in
        reply = client.post(url, data={**FORMS.get(endpoint, {}), "csrf_token": token})
        assert reply.status_code == 302, url
        assert reply.headers["Location"].startswith("/login"), url
    assert _everything(database) == before


def test_state_changing_routes_refuse_get(app, world, database, signed_in):
    admin = signed_in("admin")
    before = _everything(database)
    gets = {url for _, url in _urls(app, "GET", world)}
    for _, url in _urls(app, "POST", world):
        if url not in gets:
            assert admin.get(url).status_code == 405, url
    assert _everything(database) == before
    assert admin.get("/").status_code == 200  # GET /logout did not sign out


# --- Each role sees only what it may ---------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_opens_only_its_pages(app, world, signed_in, role):
    client = signed_in(role)
    for endpoint, url in _urls(app, "GET", world):
        reply = client.get(url)
        if endpoint == "auth.login":  # already signed in
            assert reply.status_code == 302 and reply.headers["Location"] == "/"
        elif _may(role, False, GET_ACCESS[endpoint]):
            assert reply.status_code == 200, (role, url)
        else:
            assert reply.status_code == 403, (role, url)
            assert "he hits me" not in reply.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES)
def test_the_safeguarding_page_needs_the_permission_not_a_role(
    app, world, signed_in, database, role
):
    client = signed_in(role)
    assert client.get("/safeguarding").status_code == 403
    _permit(database, role)
    page = client.get("/safeguarding")
    assert page.status_code == 200 and "he hits me" in page.get_data(as_text=True)
    for endpoint, url in _urls(app, "GET", world):  # the permission adds nothing else
        if GET_ACCESS[endpoint] not in (PUBLIC, SAFEGUARDING):
            expected = 200 if _may(role, True, GET_ACCESS[endpoint]) else 403
            assert client.get(url).status_code == expected, (role, url)


@pytest.mark.parametrize("role", ["analyst", "officer"])
def test_forms_above_a_role_are_refused_and_change_nothing(app, world, signed_in, database, role):
    client = signed_in(role)
    token = csrf(client)
    before = _everything(database)
    refused = 0
    for endpoint, url in _urls(app, "POST", world):
        if _may(role, False, POST_ACCESS[endpoint]):
            continue
        reply = client.post(url, data={**FORMS.get(endpoint, {}), "csrf_token": token})
        assert reply.status_code == 403, (role, url)
        refused += 1
    assert refused >= (6 if role == "officer" else 10)
    assert _everything(database) == before


@pytest.mark.parametrize("role", ROLES)
def test_the_menu_links_only_to_pages_the_role_may_open(signed_in, world, role):
    client = signed_in(role)
    page = client.get("/").get_data(as_text=True)
    menu = re.search(r'<nav aria-label="Main">(.*?)</nav>', page, re.S).group(1)
    links = set(re.findall(r'href="([^"]+)"', menu))
    assert all(client.get(url).status_code == 200 for url in links), links
    admin_only = {"/users", "/audit", "/residents"}
    assert links & admin_only == (admin_only if role == "admin" else set())
    assert ("/updates/new" in links) == (role != "analyst")
    assert "/safeguarding" not in links  # nobody has the permission yet


# --- CSRF: every form needs this session's token ---------------------------------------


def test_every_form_needs_the_csrf_token(app, world, signed_in, database):
    _permit(database, "admin")
    admin = signed_in("admin")  # may send every form
    before = _everything(database)
    for endpoint, url in _urls(app, "POST", world):
        for token in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
            reply = admin.post(url, data={**FORMS.get(endpoint, {}), **token})
            assert reply.status_code == 400, (url, token)
            assert "did not come from this console" in reply.get_data(as_text=True)
    assert _everything(database) == before
    assert admin.get("/").status_code == 200  # still signed in: /logout was refused too


def test_another_sessions_csrf_token_is_refused(app, world, signed_in, database):
    attacker, victim = signed_in("analyst"), signed_in("admin")
    their_token = csrf(attacker)
    assert their_token != csrf(victim)
    before = _everything(database)
    reply = victim.post(
        f"/users/{world['user_id']}/role", data={"role": "admin", "csrf_token": their_token}
    )
    assert reply.status_code == 400
    reply = victim.post(
        f"/users/{world['user_id']}/role",
        data={"role": "admin"},
        headers={"X-CSRF-Token": their_token},
    )
    assert reply.status_code == 400
    assert _everything(database) == before


def test_anonymous_sign_in_needs_the_csrf_token(app, accounts, database):
    client = app.test_client()
    reply = client.post("/login", data={"email": "admin@council.example", "password": PASSWORD})
    assert reply.status_code == 400 and client.get("/").status_code == 302


# --- Open redirects after sign-in ---------------------------------------------------------


@pytest.mark.parametrize("target", OFF_SITE)
def test_sign_in_never_redirects_off_the_site(app, accounts, target):
    client = app.test_client()
    reply = _login(client, "analyst@council.example", PASSWORD, next=target)
    assert reply.status_code == 302 and reply.headers["Location"] == "/"


def test_the_reported_tab_redirect_is_refused(app, accounts):
    client = app.test_client()
    page = client.get("/login?next=/%09/evil.example/").get_data(as_text=True)
    kept = re.search(r'name="next" value="([^"]*)"', page).group(1)
    reply = _login(client, "analyst@council.example", PASSWORD, next=kept)
    assert reply.headers["Location"] == "/"


def test_a_path_on_this_site_is_kept_after_sign_in(app, accounts):
    client = app.test_client()
    reply = _login(client, "analyst@council.example", PASSWORD, next="/updates?x=1")
    assert reply.status_code == 302 and reply.headers["Location"] == "/updates?x=1"


def test_the_page_asked_for_is_opened_after_sign_in(app, world):
    client = app.test_client()
    asked = client.get(f"/updates/{world['update_id']}?tab=1").headers["Location"]
    next_path = re.search(r"next=(.*)", asked).group(1)
    reply = _login(client, "analyst@council.example", PASSWORD, next=unquote(next_path))
    assert reply.headers["Location"] == f"/updates/{world['update_id']}?tab=1"


def test_the_next_field_is_escaped_on_the_sign_in_page(app):
    page = app.test_client().get('/login?next="><script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


# --- Session cookies: fixation, forgery, copies after sign-out, disable and role change --


def test_a_cookie_from_before_sign_in_never_becomes_signed_in(app, accounts):
    attacker = app.test_client()
    attacker.get("/login")  # the attacker's own (anonymous) session...
    planted = attacker.get_cookie("engage_console").value
    victim = app.test_client()
    victim.set_cookie("engage_console", planted)  # ...planted in the victim's browser
    old_token = csrf(victim)
    assert _login(victim, "admin@council.example", PASSWORD).status_code == 302
    assert victim.get_cookie("engage_console").value != planted  # a new session
    assert victim.get("/users").status_code == 200
    assert _sent_to_sign_in(attacker.get("/"))  # the planted cookie is still anonymous
    replay = app.test_client()
    replay.set_cookie("engage_console", planted)
    assert _sent_to_sign_in(replay.get("/users"))
    with victim.session_transaction() as session:
        assert session["csrf_token"] != old_token  # and a new CSRF token
        assert set(session) == {"uid", "since", "csrf_token", "_permanent"}
    assert victim.post("/logout", data={"csrf_token": old_token}).status_code == 400


def test_a_forged_session_cookie_is_refused(app, accounts, database, signed_in):
    with database.transaction() as s:
        admin_id = user_by_email(s, "admin@council.example").id
    wanted = {"uid": admin_id, "since": time.time(), "_permanent": True}
    forger = Flask("forger")
    forger.secret_key = "not the console's key"
    forged = SecureCookieSessionInterface().get_signing_serializer(forger).dumps(wanted)
    client = app.test_client()
    client.set_cookie("engage_console", forged)
    assert _sent_to_sign_in(client.get("/users"))
    analyst = signed_in("analyst").get_cookie("engage_console").value
    spliced = forged.rsplit(".", 1)[0] + "." + analyst.rsplit(".", 1)[1]  # a real signature
    client = app.test_client()
    client.set_cookie("engage_console", spliced)
    assert _sent_to_sign_in(client.get("/users"))
    genuine = SecureCookieSessionInterface().get_signing_serializer(app).dumps(wanted)
    client = app.test_client()
    client.set_cookie("engage_console", genuine)
    assert client.get("/users").status_code == 200  # only the console's secret key can


def test_a_copied_cookie_is_refused_after_sign_out(app, signed_in):
    officer = signed_in("officer")
    thief = _copy(app, officer)
    assert thief.get("/").status_code == 200
    assert officer.post("/logout", data={"csrf_token": csrf(officer)}).status_code == 302
    assert _sent_to_sign_in(thief.get("/"))
    assert _sent_to_sign_in(officer.get("/"))


def test_a_copied_cookie_is_refused_after_disable_and_after_re_enable(app, signed_in, database):
    thief = _copy(app, signed_in("officer"))
    with database.transaction() as s:
        officer_id = user_by_email(s, "officer@council.example").id
        disable_user(s, officer_id, actor="test")
    assert _sent_to_sign_in(thief.get("/"))
    with database.transaction() as s:
        enable_user(s, officer_id, actor="test")
    assert _sent_to_sign_in(thief.get("/"))  # re-enabling does not bring it back
    assert signed_in("officer").get("/").status_code == 200  # a new sign-in works


def test_a_copied_cookie_is_refused_after_a_role_change(app, signed_in, database):
    demoted, promoted = _copy(app, signed_in("officer")), _copy(app, signed_in("analyst"))
    assert demoted.get("/updates/new").status_code == 200
    with database.transaction() as s:
        set_role(s, user_by_email(s, "officer@council.example").id, "analyst", actor="test")
        set_role(s, user_by_email(s, "analyst@council.example").id, "admin", actor="test")
    assert _sent_to_sign_in(demoted.get("/updates/new"))
    assert _sent_to_sign_in(promoted.get("/users"))  # a stolen cookie gains nothing either
    assert _sent_to_sign_in(promoted.get("/"))


def test_an_admin_changing_an_account_in_the_console_signs_it_out(app, signed_in, world):
    admin, officer = signed_in("admin"), signed_in("officer")
    thief = _copy(app, officer)
    token = csrf(admin)
    for change, data in (("disable", {}), ("enable", {}), ("role", {"role": "analyst"})):
        if change == "role":
            officer = signed_in("officer")
            thief = _copy(app, officer)
        reply = admin.post(
            f"/users/{world['user_id']}/{change}", data={**data, "csrf_token": token}
        )
        assert reply.status_code == 302, change
        assert _sent_to_sign_in(thief.get("/")), change
        assert _sent_to_sign_in(officer.get("/")), change


# --- Password guessing --------------------------------------------------------------------


def test_guessing_elsewhere_cannot_lock_an_officer_out(app, accounts, database):
    attacker, officer = _from(app, "203.0.113.66"), _from(app, "198.51.100.4")
    for _ in range(5):
        assert _login(attacker, "officer@council.example", "guess guess").status_code == 401
    assert _login(attacker, "officer@council.example", PASSWORD).status_code == 429
    assert _login(officer, "officer@council.example", PASSWORD).status_code == 302


def test_guessing_from_one_address_waits_longer_each_time(app, accounts, database):
    attacker = _from(app, "203.0.113.66")
    for _ in range(5):
        assert _login(attacker, "officer@council.example", "guess guess").status_code == 401
    waits = []
    for _ in range(4):
        reply = _login(attacker, "officer@council.example", "guess guess")
        assert reply.status_code == 429
        waits.append(int(reply.headers["Retry-After"]))
        with database.transaction() as s:  # let the wait pass
            for failure in s.scalars(select(LoginFailure)):
                failure.created_at -= timedelta(seconds=waits[-1] + 1)
        assert _login(attacker, "officer@council.example", "guess guess").status_code == 401
    assert [round(w / 60) for w in waits] == [1, 2, 4, 8]


def test_known_unknown_and_disabled_accounts_are_refused_alike(app, accounts, database):
    with database.transaction() as s:
        disable_user(s, user_by_email(s, "analyst@council.example").id, actor="test")
    replies = [
        _login(app.test_client(), email, password)
        for email, password in (
            ("officer@council.example", "wrong password"),
            ("nobody@council.example", "wrong password"),
            ("analyst@council.example", PASSWORD),  # right, but disabled
        )
    ]
    assert {r.status_code for r in replies} == {401}
    assert all("Wrong email address or password." in r.get_data(as_text=True) for r in replies)


# --- Headers -------------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_reply(app, world, signed_in):
    anonymous, analyst = app.test_client(), signed_in("analyst")
    replies = [
        anonymous.get("/login"),
        anonymous.get("/healthz"),
        anonymous.get("/"),  # a redirect
        anonymous.get("/static/console.css"),
        anonymous.get("/no/such/page"),
        anonymous.post("/login", data={}),  # 400
        analyst.get("/"),
        analyst.get(f"/updates/{world['update_id']}/delivery.json"),
        analyst.get("/users"),  # 403
    ]
    for reply in replies:
        assert reply.headers["Content-Security-Policy"] == CSP
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in reply.headers  # plain http
    for reply in replies[-3:]:
        assert reply.headers["Cache-Control"] == "no-store"  # officers' data is not cached
    over_https = analyst.get("/", headers={"X-Forwarded-Proto": "https"})
    assert over_https.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_static_files_do_not_escape_their_folder(app):
    client = app.test_client()
    assert client.get("/static/console.css").status_code == 200
    for path in (
        "/static/../__init__.py",
        "/static/%2e%2e/__init__.py",
        "/static/..%2f__init__.py",
        "/static/%2e%2e%5c__init__.py",
    ):
        assert client.get(path).status_code == 404, path
