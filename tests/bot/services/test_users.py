"""Accounts: argon2id, roles, throttled sign-in with an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.models import AuditEvent, utcnow
from bot.services.users import (
    InvalidUser,
    authenticate,
    create_user,
    failure_wait,
    has_role,
    set_role,
)

PASSWORD = "correct horse battery"


def test_roles_are_ordered():
    assert has_role("admin", "officer") and has_role("officer", "analyst")
    assert not has_role("analyst", "officer") and not has_role("officer", "admin")
    assert not has_role("boss", "analyst")


def test_sign_in_is_throttled_by_account_and_address_with_growing_waits(database):
    now = utcnow()
    with database.transaction() as s:
        user = create_user(
            s, email="a@x.example", name="A", role="officer", password=PASSWORD, actor="test"
        )
        assert user.password_hash.startswith("$argon2id$")
        for n in range(5):
            attempt = authenticate(
                s, "a@x.example", "wrong", "10.0.0.1", now + timedelta(seconds=n)
            )
            assert attempt.user is None and not attempt.throttled
        last = now + timedelta(seconds=4)
        locked = authenticate(s, "a@x.example", PASSWORD, "10.0.0.1", last + timedelta(seconds=30))
        assert locked.throttled and locked.user is None and locked.wait == timedelta(seconds=30)
        elsewhere = authenticate(s, "A@x.example", PASSWORD, "10.0.0.2", last)
        assert elsewhere.user is not None and elsewhere.user.id == user.id  # not locked out
        for wait in (1, 2, 4, 8, 15, 15):  # minutes after each further failure from 10.0.0.1
            early = authenticate(s, "a@x.example", "wrong", "10.0.0.1", last)
            assert early.throttled and early.wait == timedelta(minutes=wait)
            last += timedelta(minutes=wait)
            assert not authenticate(s, "a@x.example", "wrong", "10.0.0.1", last).throttled
        assert s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all() == [
            "user.create",
            "login.success",
        ]


def test_the_wait_grows_by_doubling_up_to_15_minutes():
    assert [failure_wait(n) for n in range(4, 12)] == [
        timedelta(0), *(timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15, 15)),
    ]  # fmt: skip


def test_unknown_accounts_count_as_failures_too(database):
    now = utcnow()
    with database.transaction() as s:
        for n in range(20):
            assert not authenticate(s, f"u{n}@x.example", "pw", "10.0.0.9", now).throttled
        assert authenticate(s, "other@x.example", "pw", "10.0.0.9", now).throttled


def test_last_admin_keeps_the_role(database):
    with database.transaction() as s:
        admin = create_user(
            s, email="ad@x.example", name="Ad", role="admin", password=PASSWORD, actor="test"
        )
        with pytest.raises(InvalidUser, match="last active admin"):
            set_role(s, admin.id, "officer", actor="test")
