"""The console's protections: secret key, sessions, CSRF tokens, roles and HTTP headers.

Cookies: the session cookie is HttpOnly and SameSite=Lax, and Secure whenever the request
came over https. The console is meant to listen on 127.0.0.1 behind a reverse proxy on the
same machine that terminates TLS; when it listens on a loopback address only that proxy
(or someone already on the machine) can reach it, so its X-Forwarded-Proto and
X-Forwarded-For headers are trusted (werkzeug's ProxyFix, one hop). Listening on any
other address, no forwarded header is trusted, and cookies are Secure only if the
request itself is https.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec

from flask import Flask, Response, abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.keys import local_secret
from bot.models import Role
from bot.services.users import has_role
from bot.settings import Settings

P = ParamSpec("P")
SESSION_HOURS = 8
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSRF_FIELD = "csrf_token"
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def secret_key(settings: Settings) -> str:
    """CONSOLE_SECRET_KEY, or a random key made once and kept in var/ (mode 0600)."""
    return local_secret(settings.console_secret_key, settings.var_dir, "console_secret_key")


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, Secure exactly when the request is https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request and request.is_secure)


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get(CSRF_FIELD, "")
    given = request.form.get(CSRF_FIELD, "") or request.headers.get("X-CSRF-Token", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        abort(400, "This form has expired or did not come from this console. "
                   "Go back, reload the page and try again.")  # fmt: skip


def start_session(user_id: int) -> None:
    """A fresh session for a signed-in user (a new CSRF token too: no fixation)."""
    session.clear()
    session.permanent = True
    session["uid"] = user_id
    session["since"] = time.time()
    csrf_token()


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if "uid" in session:  # pages with officers' data are not kept by shared caches
        response.headers["Cache-Control"] = "no-store"
    return response


def login_required(
    role: str = Role.ANALYST,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """Only signed-in users with at least `role` may open the page (403 otherwise)."""

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            if g.user is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if not has_role(g.user.role, role):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def protect(app: Flask, settings: Settings) -> None:
    """Install the secret key, cookie flags, CSRF check and security headers."""
    from datetime import timedelta

    app.secret_key = secret_key(settings)
    app.session_interface = _SessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME="engage_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    if settings.console_host in LOOPBACK:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    app.before_request(_check_csrf)
    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
