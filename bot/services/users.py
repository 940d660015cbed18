"""Console accounts: argon2id passwords, roles, and sign-in throttled against guessing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import AuditEvent, ConsoleUser, LoginFailure, Role, utcnow
from bot.services import audit

ROLES = tuple(Role)  # each can do what the previous one can, and more
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # argon2 hashes anything; this only bounds the work per attempt
# Guessing one account's password from one address: FREE_FAILURES wrong passwords, then a
# wait of FIRST_WAIT that doubles after each further failure, up to LONGEST_WAIT. Counted
# per (account, address), so failures from elsewhere never lock an officer out; they are
# forgotten after FAILURE_MEMORY, or when the account signs in from that address.
FREE_FAILURES = 5
FIRST_WAIT = timedelta(minutes=1)
LONGEST_WAIT = timedelta(minutes=15)
FAILURE_MEMORY = timedelta(hours=24)
# Trying many accounts from one address (spraying): MAX_FAILURES_PER_ADDRESS failures
# within FAILURE_WINDOW and that address waits until the oldest of them is that old.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ADDRESS = 20
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidUser(ValueError):
    """An account change that cannot be made, with a short reason."""


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, RFC 9106 "low memory" parameters


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Unknown accounts are checked against this, so they take as long as known ones.
    return _hasher().hash("not a password of anyone's")


def has_role(role: str, needed: str) -> bool:
    """True if `role` may do what `needed` may (admin > officer > analyst)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def normal_email(email: str) -> str:
    """An email address as stored: trimmed and lower-case."""
    return email.strip().lower()


def check_password(password: str) -> None:
    """Raise InvalidUser unless the password is long enough."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidUser(f"the password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidUser(f"the password must be at most {MAX_PASSWORD_CHARS} characters")


def user_by_email(session: Session, email: str) -> ConsoleUser | None:
    """The account with this email address, if any."""
    return session.scalars(
        select(ConsoleUser).where(ConsoleUser.email == normal_email(email))
    ).one_or_none()


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    actor: str,
    remote_addr: str | None = None,
) -> ConsoleUser:
    """Create an account (audited); raises InvalidUser with a short reason."""
    email, name = normal_email(email), " ".join(name.split())
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidUser("give a valid email address")
    if not name:
        raise InvalidUser("give the person's name")
    if len(name) > 120:
        raise InvalidUser("give a name of at most 120 characters")
    if role not in ROLES:
        raise InvalidUser(f"the role must be one of {', '.join(ROLES)}")
    check_password(password)
    if user_by_email(session, email) is not None:
        raise InvalidUser("there is already an account with that email address")
    user = ConsoleUser(email=email, name=name, role=role, password_hash=_hasher().hash(password))
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        target=f"user:{user.id}",
        detail={"role": role},
        remote_addr=remote_addr,
    )
    return user


def list_users(session: Session) -> list[ConsoleUser]:
    """Every account, active ones first, then by email."""
    return list(
        session.scalars(
            select(ConsoleUser).order_by(ConsoleUser.disabled_at.is_not(None), ConsoleUser.email)
        ).all()
    )


def _get(session: Session, user_id: int) -> ConsoleUser:
    user = session.get(ConsoleUser, user_id)
    if user is None:
        raise InvalidUser("there is no such account")
    return user


def _end_sessions(user: ConsoleUser, now: datetime | None = None) -> None:
    """End every session of the account started until now (see session_is_current)."""
    user.signed_out_at = now or utcnow()


def _last_admin(session: Session, user: ConsoleUser) -> bool:
    admins = session.scalar(
        select(func.count())
        .select_from(ConsoleUser)
        .where(ConsoleUser.role == Role.ADMIN, ConsoleUser.disabled_at.is_(None))
    )
    return user.role == Role.ADMIN and user.disabled_at is None and admins == 1


def disable_user(
    session: Session, user_id: int, *, actor: str, remote_addr: str | None = None
) -> ConsoleUser:
    """Stop an account from signing in and end its sessions (audited).

    The last active admin cannot be disabled.
    """
    user = _get(session, user_id)
    if user.disabled_at is not None:
        return user
    if _last_admin(session, user):
        raise InvalidUser("this is the last active admin: make another admin first")
    user.disabled_at = utcnow()
    _end_sessions(user)
    audit.record(
        session, actor=actor, action="user.disable", target=f"user:{user.id}",
        remote_addr=remote_addr,
    )  # fmt: skip
    return user


def enable_user(
    session: Session, user_id: int, *, actor: str, remote_addr: str | None = None
) -> ConsoleUser:
    """Let a disabled account sign in again (audited): only new sessions, none from before."""
    user = _get(session, user_id)
    if user.disabled_at is None:
        return user
    user.disabled_at = None
    _end_sessions(user)  # sessions from before it was disabled stay over
    audit.record(
        session, actor=actor, action="user.enable", target=f"user:{user.id}",
        remote_addr=remote_addr,
    )  # fmt: skip
    return user


def set_role(
    session: Session, user_id: int, role: str, *, actor: str, remote_addr: str | None = None
) -> ConsoleUser:
    """Change an account's role and end its sessions (audited); the last admin keeps theirs."""
    if role not in ROLES:
        raise InvalidUser(f"the role must be one of {', '.join(ROLES)}")
    user = _get(session, user_id)
    if user.role == role:
        return user
    if _last_admin(session, user):
        raise InvalidUser("this is the last active admin: make another admin first")
    previous, user.role = user.role, role
    _end_sessions(user)
    audit.record(
        session,
        actor=actor,
        action="user.role",
        target=f"user:{user.id}",
        detail={"from": previous, "to": role},
        remote_addr=remote_addr,
    )
    return user


def set_safeguarding(
    session: Session, user_id: int, allowed: bool, *, actor: str, remote_addr: str | None = None
) -> ConsoleUser:
    """Give or take the permission to see safeguarding alerts (audited)."""
    user = _get(session, user_id)
    if user.safeguarding == allowed:
        return user
    user.safeguarding = allowed
    audit.record(
        session,
        actor=actor,
        action="user.safeguarding",
        target=f"user:{user.id}",
        detail={"allowed": allowed},
        remote_addr=remote_addr,
    )
    return user


def sign_out(
    session: Session, user_id: int, *, remote_addr: str | None = None, now: datetime | None = None
) -> None:
    """End every session of the account started until now (audited)."""
    user = _get(session, user_id)
    _end_sessions(user, now)
    audit.record(session, actor=user.email, action="logout", remote_addr=remote_addr)


def session_is_current(user: ConsoleUser, started: float) -> bool:
    """True if a session started at `started` (a Unix time) was not ended by a sign-out."""
    return user.signed_out_at is None or started > user.signed_out_at.timestamp()


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the account, or why not (and how long to wait)."""

    user: ConsoleUser | None
    throttled: bool = False
    wait: timedelta = timedelta(0)


def failure_wait(failures: int) -> timedelta:
    """How long an address waits after this many failures for one account (0 if none)."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    doublings = min(failures - FREE_FAILURES, 10)  # 2**10 minutes is past LONGEST_WAIT
    return min(FIRST_WAIT * 2**doublings, LONGEST_WAIT)


def _failures_since(
    session: Session, email: str, remote_addr: str, since: datetime
) -> tuple[int, datetime | None]:
    """How many failures for this account from this address after `since`, and the last."""
    count, last = session.execute(
        select(func.count(), func.max(LoginFailure.created_at)).where(
            LoginFailure.email == email,
            LoginFailure.remote_addr == remote_addr,
            LoginFailure.created_at > since,
        )
    ).one()
    return count or 0, last


def _pair_wait(session: Session, email: str, remote_addr: str, now: datetime) -> timedelta:
    """The wait left for guessing this account's password from this address."""
    failures, last = _failures_since(session, email, remote_addr, now - FAILURE_MEMORY)
    if failures < FREE_FAILURES or last is None:
        return timedelta(0)
    last_success = session.scalar(  # a sign-in from there forgets the failures before it
        select(func.max(AuditEvent.created_at)).where(
            AuditEvent.action == "login.success",
            AuditEvent.actor == email,
            AuditEvent.remote_addr == remote_addr,
        )
    )
    if last_success is not None and last_success > now - FAILURE_MEMORY:
        failures, last = _failures_since(session, email, remote_addr, last_success)
        if last is None:
            return timedelta(0)
    return max(last + failure_wait(failures) - now, timedelta(0))


def _address_wait(session: Session, remote_addr: str, now: datetime) -> timedelta:
    """The wait left for an address that failed for many accounts (spraying)."""
    oldest_that_counts = session.scalar(
        select(LoginFailure.created_at)
        .where(
            LoginFailure.remote_addr == remote_addr,
            LoginFailure.created_at >= now - FAILURE_WINDOW,
        )
        .order_by(LoginFailure.created_at.desc())
        .offset(MAX_FAILURES_PER_ADDRESS - 1)
        .limit(1)
    )
    if oldest_that_counts is None:
        return timedelta(0)
    return max(oldest_that_counts + FAILURE_WINDOW - now, timedelta(0))


def authenticate(
    session: Session,
    email: str,
    password: str,
    remote_addr: str,
    now: datetime | None = None,
) -> SignIn:
    """Check a password, counting failures; the caller commits the session either way.

    From one address, after FREE_FAILURES failures for one account every attempt at that
    account waits FIRST_WAIT after the last failure, twice as long after each further
    failure, up to LONGEST_WAIT (failures forgotten after FAILURE_MEMORY or a sign-in from
    that address). Other addresses are not held back, so nobody can lock an officer out
    from elsewhere. After MAX_FAILURES_PER_ADDRESS failures from one address within
    FAILURE_WINDOW, for any accounts, that address waits until the window has passed.
    Refused attempts are not counted, so every wait ends.
    """
    now = now or utcnow()
    email = normal_email(email)[:254]
    remote_addr = (remote_addr or "unknown")[:64]
    wait = max(
        _address_wait(session, remote_addr, now), _pair_wait(session, email, remote_addr, now)
    )
    if wait > timedelta(0):
        return SignIn(None, throttled=True, wait=wait)
    user = user_by_email(session, email)
    stored = user.password_hash if user else _dummy_hash()
    try:
        _hasher().verify(stored, password[:MAX_PASSWORD_CHARS])
        matched = user is not None
    except (VerificationError, InvalidHashError):
        matched = False
    if not matched or user is None or user.disabled_at is not None:
        session.add(LoginFailure(email=email, remote_addr=remote_addr, created_at=now))
        session.flush()
        return SignIn(None)
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    user.last_login_at = now
    audit.record(session, actor=user.email, action="login.success", remote_addr=remote_addr)
    return SignIn(user)
