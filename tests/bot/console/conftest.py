"""A console app on the `database` fixture, signed-in clients by role, and seeded residents."""

from __future__ import annotations

import re

import pytest

from bot.console import create_app
from bot.services.users import create_user
from tests.residents import add_resident, add_view

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def quick_hashing(monkeypatch):
    """argon2id with small costs: the same code, much faster tests."""
    from argon2 import PasswordHasher

    from bot.services import users

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "_hasher", lambda: cheap)


@pytest.fixture
def app(settings, database):
    app = create_app(settings, database)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def accounts(database):
    """One active account per role: <role>@council.example."""
    with database.transaction() as s:
        for role in ("analyst", "officer", "admin"):
            create_user(
                s, email=f"{role}@council.example", name=role.title(), role=role,
                password=PASSWORD, actor="test",
            )  # fmt: skip


def csrf(client) -> str:
    """The CSRF token of the client's session (made by opening the sign-in page)."""
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if found:
        return found.group(1)
    with client.session_transaction() as session:
        return session["csrf_token"]


def sign_in(client, role: str) -> None:
    """Sign the client in as the account for `role`."""
    reply = client.post(
        "/login",
        data={"email": f"{role}@council.example", "password": PASSWORD, "csrf_token": csrf(client)},
    )
    assert reply.status_code == 302, reply.get_data(as_text=True)


class StolenCookie:
    """A copy of a session cookie, sent exactly as copied every time (as an attacker would:
    a test client would otherwise forget it once the console clears it)."""

    def __init__(self, app, client) -> None:
        self.app, self.value = app, client.get_cookie("engage_console").value

    def get(self, path: str):
        client = self.app.test_client()
        client.set_cookie("engage_console", self.value)
        return client.get(path)


@pytest.fixture
def signed_in(app, accounts):
    """A factory: a test client signed in with the given role."""

    def _client(role: str):
        client = app.test_client()
        sign_in(client, role)
        return client

    return _client


@pytest.fixture
def seeded(database):
    """Three residents: buses in LS6 by SMS and by Telegram, bins and a park in LS7."""
    with database.transaction() as s:
        a = add_resident(s, "sms", "+447700900001", area="LS6")
        b = add_resident(s, "telegram", "1001", area="LS6")
        c = add_resident(s, "sms", "+447700900003", area="LS7")
        ids = {
            "bus_sms": add_view(s, a, "the buses stop at 6", "roads_transport", days_ago=3).id,
            "bus_tg": add_view(
                s, b, "No night BUS to town", "roads_transport", days_ago=10, channel="telegram"
            ).id,
            "bins": add_view(s, c, "bins not emptied 100% of the time", "waste_recycling").id,
            "other": add_view(s, c, "I like the park", None, days_ago=40).id,
        }
    return ids
