"""The session cookie and CSRF tokens.

The CSRF token of a session is an HMAC of its session token, so it needs no
storage and is useless without the (HttpOnly) cookie. Before login, the login
form carries a random token that must match a cookie set with the form
(double submit).
"""

import base64
import hashlib
import hmac
import secrets

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Scope

SESSION_COOKIE = "mw_session"
LOGIN_CSRF_COOKIE = "mw_login_csrf"


def csrf_for(session_token: str) -> str:
    digest = hmac.digest(session_token.encode(), b"mailward-csrf/v1", hashlib.sha256)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, given or "")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=secure
    )


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def device(request: Request) -> str:
    return request.headers.get("user-agent", "")[:300]


def session_token(scope: Scope) -> str:
    """The session token a request presents: a bearer token, else the cookie."""
    conn = HTTPConnection(scope)
    auth = conn.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return str(conn.cookies.get(SESSION_COOKIE, ""))
