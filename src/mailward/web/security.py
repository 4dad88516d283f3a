"""The Security page: the user's own login history, live sessions (sign out one,
or all others), password change, and every access to their mailbox by anyone
other than their own sessions."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailward.access import MailAccess
from mailward.auth import SecondFactor
from mailward.core.errors import NotFound
from mailward.core.ids import SessionId
from mailward.core.principal import Principal
from mailward.web.boundary import witness
from mailward.web.pages import _backend, _render, _when, check_csrf, door, logins, principal
from mailward.web.session import SESSION_COOKIE, csrf_for

router = APIRouter(include_in_schema=False)


@router.get("/security", response_class=HTMLResponse)
def security(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    d: Annotated[MailAccess, Depends(door)],
    done: str = "",
) -> Response:
    return _security_page(request, p, d, done)


# The most recently used sessions listed; the rest are counted ("and 12 more"),
# and "sign out all other sessions" ends them too. An account signed in from a
# script thousands of times made a page of thousands of rows (81 ms of CPU).
SESSIONS_SHOWN = 50


def _security_page(
    request: Request, p: Principal, d: MailAccess, done: str = "", new_secret: str = ""
) -> Response:
    b = _backend(request)
    apps = b.logins.app_passwords
    return _render(
        request,
        "security.html",
        {
            "me": p,
            "app_passwords": witness(request, apps).live(p.account_id) if apps else [],
            "new_secret": new_secret,
            "logins": logins(request).history(p.account_id, 50),
            "sessions": (
                sessions := witness(request, b.sessions).live(
                    p.account_id, SESSIONS_SHOWN, first=p.session_id
                )
            ),
            "sessions_more": (  # (two reads: one signed out in between is not -1)
                max(0, b.sessions.live_count(p.account_id) - len(sessions))
                if len(sessions) == SESSIONS_SHOWN
                else 0
            ),
            "accesses": d.accesses_by_others(100),
            "two_factor": b.second_factor is not None and b.second_factor.enabled(p.account_id),
            "csrf": csrf_for(request.cookies.get(SESSION_COOKIE, "")),
            "when": _when,
            "done": done,
        },
    )


@router.post("/security/sessions/{session_id}/revoke")
def revoke(
    request: Request,
    session_id: str,
    p: Annotated[Principal, Depends(principal)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    if not _backend(request).sessions.revoke(p.account_id, SessionId(session_id)):
        raise NotFound("no such session")
    if session_id == p.session_id:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/security?done=signed-out", status_code=303)


@router.post("/security/app-passwords", response_class=HTMLResponse)
def new_app_password(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    d: Annotated[MailAccess, Depends(door)],
    name: Annotated[str, Form(max_length=100)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Make an app password and show its secret this once (no redirect: the page
    that shows it is no-store and never shown again)."""
    check_csrf(request, csrf)
    apps = _backend(request).logins.app_passwords
    if apps is None:
        raise NotFound("app passwords are not offered")
    _info, secret = apps.create(p.account_id, name)
    return _security_page(request, p, d, "app-password", secret)


@router.post("/security/app-passwords/{app_id}/revoke")
def revoke_app_password(
    request: Request,
    app_id: str,
    p: Annotated[Principal, Depends(principal)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    apps = _backend(request).logins.app_passwords
    if apps is None or not apps.revoke(p.account_id, app_id[:40]):
        raise NotFound("no such app password")
    return RedirectResponse("/security?done=app-password-revoked", status_code=303)


@router.post("/security/sessions/revoke-others")
def revoke_others(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    _backend(request).sessions.revoke_others(p)
    return RedirectResponse("/security?done=others-signed-out", status_code=303)


@router.post("/security/password")
def change_password(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    current: Annotated[str, Form(max_length=1024)] = "",
    new: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    b = _backend(request)
    b.logins.change_password(p, current, new)
    b.sessions.revoke_others(p)  # a new password ends every other session
    return RedirectResponse("/security?done=password", status_code=303)


def _second_factor(request: Request) -> SecondFactor:
    sf = _backend(request).second_factor
    if sf is None:
        raise NotFound("two-factor sign-in is not available")
    return sf


def _qr_data_uri(uri: str) -> str:
    import base64
    import io

    import qrcode
    import qrcode.image.svg

    buf = io.BytesIO()
    qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage).save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


@router.post("/security/2fa/start", response_class=HTMLResponse)
def totp_start(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    sf = _second_factor(request)
    secret, uri = sf.start(p.account_id, p.address)
    return _render(
        request,
        "totp.html",
        {"me": p, "secret": secret, "qr": _qr_data_uri(uri), "codes": None,
         "csrf": csrf_for(request.cookies.get(SESSION_COOKIE, ""))},
    )  # fmt: skip


@router.post("/security/2fa/confirm", response_class=HTMLResponse)
def totp_confirm(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    code: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    sf = _second_factor(request)
    codes = sf.confirm(p.account_id, code)
    return _render(
        request,
        "totp.html",
        {"me": p, "secret": None, "qr": None, "codes": codes,
         "csrf": csrf_for(request.cookies.get(SESSION_COOKIE, ""))},
    )  # fmt: skip


@router.post("/security/2fa/disable")
def totp_disable(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    sf = _second_factor(request)
    _backend(request).logins.confirm_password(p, password)
    sf.disable(p.account_id)
    return RedirectResponse("/security?done=2fa-off", status_code=303)
