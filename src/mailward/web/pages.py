"""The pages: sign in/out, folders and message list, a message, its parts."""

import asyncio
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from html import escape
from typing import Annotated, TypeVar, cast
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from mailward.access import MailAccess, Pending
from mailward.auth import Logins
from mailward.core.errors import AuthError, InvalidInput
from mailward.core.mailbox import MailboxInfo
from mailward.core.message import FolderPage, MessagePage, MessageSummary, Page
from mailward.core.principal import Principal, Protocol
from mailward.web.alerts import new_device_alert
from mailward.web.backend import WebBackend
from mailward.web.boundary import witness
from mailward.web.headers import BODY_CSP, BODY_CSP_REMOTE_IMAGES
from mailward.web.recorder import Recorder
from mailward.web.render import body_document
from mailward.web.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    client_ip,
    csrf_for,
    csrf_ok,
    device,
    new_login_csrf,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
LAST_LOGON = "last-logon"  # the feature flag of the after-login banner
SESSION_MAX_AGE_S = 14 * 86400


T = TypeVar("T")


def _backend(request: Request) -> WebBackend:
    backend: WebBackend = request.app.state.backend
    return backend


def _render(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status)


async def signed_in(request: Request, token: str, protocol: Protocol) -> Principal:
    """The principal of `token` (AuthError: signed out), kept on the request for the
    boundary to check the response against.

    Dependencies declared `async` run on the event loop; a plain `def` one costs a
    trip to the thread pool (and one of its two places) before the page's own:
    two SQLite reads are cheaper than the trip. Whatever writes (the occasional
    last-seen time, a mismatch the guard records and contains) goes to the pool."""
    sessions, remote = _backend(request).sessions, client_ip(request)
    quick = sessions.peek(token, remote=remote, protocol=protocol)
    if quick is None:  # a mismatch to record and contain, or a drill fault: not here
        p = await run_in_threadpool(
            lambda: sessions.resolve(token, remote=remote, protocol=protocol)
        )
    else:
        p, due = quick
        if due:
            await run_in_threadpool(sessions.touch, p)
    request.state.principal = p
    return p


async def principal(request: Request) -> Principal:
    """The signed-in principal of this request (AuthError: signed out)."""
    return await signed_in(request, request.cookies.get(SESSION_COOKIE, ""), Protocol.WEB)


async def door(p: Annotated[Principal, Depends(principal)], request: Request) -> MailAccess:
    """The door for this request; everything it hands out is stamped on the response."""
    return witness(request, _backend(request).door(p))


def logins(request: Request, flag: str = "") -> Logins:
    """The login history, stamped on the response like the door."""
    return witness(request, _backend(request).logins, flag)


def check_csrf(request: Request, given: str | None) -> None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not csrf_ok(csrf_for(token), given):
        raise InvalidInput("the form is stale or came from elsewhere; reload the page")


_SHOWN = "%Y-%m-%d %H:%M UTC"


def _when(value: datetime | None = None, *, us: int | None = None) -> str:
    if value is None:
        return _minute((us or 0) // 60_000_000)
    if value.tzinfo is None:
        return value.strftime(_SHOWN)
    return _minute(math.floor(value.timestamp()) // 60)


@lru_cache(maxsize=4096)
def _minute(minute: int) -> str:
    """A minute since the epoch as the pages show times (formatting 50 dates was
    4 % of an inbox page's interpreter time; a page's dates often share minutes,
    and pages are shown again)."""
    return datetime.fromtimestamp(minute * 60, UTC).strftime(_SHOWN)


_STAR = '<span title="flagged">★</span> '
_CLIP = ' <span title="attachments">📎</span>'


def _rows_html(mailbox: str, items: Sequence[MessageSummary]) -> Markup:
    """The message list's lines as HTML, every value escaped (html.escape: &, <, >
    and both quotes). Built here, not in the template: there each of the 7 values
    of 50 lines went through markupsafe's escape (a Python-level Markup per value),
    180 µs of a page's ~2 ms. The page's values are escaped in one call, joined by
    NUL (which the sealed list fields never hold, see access/_sealing.py; one that
    did is replaced first): one call per line had cost a third of this function."""
    base = escape(f"/mail/{quote(mailbox, safe='')}/")
    values: list[str] = []
    for m in items:
        snippet = m.snippet if len(m.snippet) <= 90 else m.snippet[:87] + "..."
        values += (m.id, _when(m.internal_date), m.sender, m.subject or "(no subject)", snippet)
    text = "\0".join(values)
    if text.count("\0") != len(values) - 1:
        text = "\0".join([v.replace("\0", "\ufffd") for v in values])
    escaped = escape(text).split("\0") if values else []
    lines = []
    for i, m in enumerate(items):
        item, when, sender, subject, snippet = escaped[5 * i : 5 * i + 5]
        flagged = m.flags.flagged
        css = ("unread" if m.unread else "") + (" flagged" if flagged else "")
        lines.append(
            f'<tr class="{css}">'
            f'<td><input type="checkbox" name="ids" value="{item}" aria-label="select"></td>'
            f'<td class="from">{_STAR if flagged else ""}{sender}</td>'
            f'<td><a href="{base}{item}">{subject}</a>'
            f' <span class="snippet">{snippet}</span>'
            f"{_CLIP if m.has_attachments else ''}</td>"
            f'<td class="date">{when}</td></tr>\n'
        )
    return Markup("".join(lines))  # noqa: S704 - every value above is escaped


_REMOTE_IMG = re.compile(r"<img[^>]+src\s*=\s*[\"']?\s*https?:", re.IGNORECASE)
_ORDER = {"INBOX": 0, "Drafts": 1, "Sent": 2, "Archive": 3, "Junk": 4, "Trash": 5}


def _ordered(folders: list[MailboxInfo]) -> list[MailboxInfo]:
    """INBOX and the special folders first, then the user's, by name."""
    return sorted(folders, key=lambda f: (_ORDER.get(f.name, 6), f.name.lower()))


# -- signing in and out ---------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    token = new_login_csrf()
    response = _render(request, "login.html", {"csrf": token, "error": ""})
    set_cookie(response, LOGIN_CSRF_COOKIE, token, secure=_backend(request).secure_cookies,
               max_age=3600)  # fmt: skip
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    address: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
    totp: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    b = _backend(request)
    code = code or totp  # `totp` is the field name the design promises to clients
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf):
        return login_form(request)
    try:
        p = b.logins.login(
            address, password, remote=client_ip(request), protocol=Protocol.WEB,
            client=device(request), code=code,
        )  # fmt: skip
    except AuthError as exc:
        token = new_login_csrf()
        response = _render(
            request, "login.html", {"csrf": token, "error": str(exc), "address": address}, 401
        )
        set_cookie(response, LOGIN_CSRF_COOKIE, token, secure=b.secure_cookies, max_age=3600)
        return response
    # A new session (and token) at every login: a token planted before login is
    # worthless afterwards.
    session_token = b.sessions.create(p, device(request))
    if b.logins.is_new_device(p, device(request)):
        new_device_alert(b, p, device(request), str(request.base_url))
    response = RedirectResponse("/mail/INBOX?welcome=1", status_code=303)
    set_cookie(response, SESSION_COOKIE, session_token, secure=b.secure_cookies,
               max_age=SESSION_MAX_AGE_S)  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    _backend(request).sessions.revoke(p.account_id, p.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- mail -------------------------------------------------------------------------------


# The two pages people open most (the message list and a message) are plain
# Starlette routes: FastAPI's dependency and parameter solving and its matching
# through each included router cost ~4 % of an inbox page's instructions. They
# take the same steps as `principal` and `door`.


_NUMBER = re.compile(r"-?[0-9]{1,9}")


def _number(request: Request, name: str) -> int:
    value = request.query_params.get(name, "0")
    if not _NUMBER.fullmatch(value):
        raise InvalidInput(f"{name} must be a number")
    return int(value)


# A list whose page's sealed list fields total at most this many bytes, and whose
# account has at most this many folders, is opened and rendered on the event loop
# (a page of ordinary mail holds ~20 KB); a larger one, like every durable write,
# in the thread pool.
_LOOP_BYTES = 256 * 1024
_LOOP_FOLDERS = 200


async def mailbox(request: Request) -> Response:
    """The message list. Its reading, unsealing and rendering run on the event
    loop, its listing record's write in a pool: a page handed whole to the pool
    traded the interpreter lock with the loop at every SQLite call."""
    p = await principal(request)
    d = await door(p, request)
    mailbox = str(request.path_params["mailbox"])
    cursor = request.query_params.get("cursor")
    welcome, sent = _number(request, "welcome"), _number(request, "sent")
    if welcome:  # the banner reads the login history: all of it in the pool
        return await run_in_threadpool(_mailbox_page, request, p, d, mailbox, cursor, welcome, sent)

    def render(view: FolderPage) -> Response:
        return _mailbox_response(request, p, view.folders, mailbox, view.page, None, sent)

    return await _sent_once_recorded(
        request,
        lambda: d.mailbox_view_deferred(
            mailbox, limit=50, cursor=cursor, open_up_to=_LOOP_BYTES, folders_up_to=_LOOP_FOLDERS
        ),
        render,
    )


async def _sent_once_recorded(
    request: Request, start: Callable[[], Pending[T]], render: Callable[[T], Response]
) -> Response:
    """A page of a door's two-step call (`start`): read, opened and rendered on
    the event loop when the call could, and sent once its record is written
    (with the records of the other pages of this turn: the loop's second visit to
    the request is only the send). Otherwise (large, not there, a crossing to
    refuse) all the rest in the pool, outside the bound on pages in flight (which
    is for pages holding what they read), shielded: a refusal, once it is due,
    is recorded even if the request is cancelled."""
    recorder, in_flight = _per_app(request)
    async with in_flight:
        pending = start()
        if pending.opened:
            return await recorder.complete(pending.shaped(render))
    with anyio.CancelScope(shield=True):
        response = await run_in_threadpool(lambda: render(pending.complete()))
    return response


# The message list's records are written in batches (recorder.py), at most this
# many in flight per process: while they are, the next batch gathers.
# bench/web_bench.py's inbox page, 50 users, --workers 2, three alternating
# rounds (pages/s; CPU a page): a thread per page's record 870 / 1,274 / 965
# (1.47 / 1.46 / 1.92 ms); batches, each written by a thread 1,289 / 1,365 /
# 1,057 (1.39 / 1.35 / 1.75 ms); batches written by the loop, flushed by a
# thread 1,353 / 1,476 / 1,093 (1.32 / 1.26 / 1.69 ms). Pages in flight per
# process are bounded too: a page waits before it is read, not after, holding
# what it read, when records stall.
RECORD_BATCHES = 2
PAGES_IN_FLIGHT = 64


def _per_app(request: Request) -> tuple[Recorder, asyncio.Semaphore]:
    """The recorder and the bound on pages in flight: one pair per app, made on
    its event loop."""
    pair = getattr(request.app.state, "recording", None)
    if pair is None:
        places = anyio.CapacityLimiter(RECORD_BATCHES)
        pair = (Recorder(RECORD_BATCHES, places), asyncio.Semaphore(PAGES_IN_FLIGHT))
        request.app.state.recording = pair
    return cast(tuple[Recorder, asyncio.Semaphore], pair)


def _mailbox_page(
    request: Request,
    p: Principal,
    d: MailAccess,
    mailbox: str,
    cursor: str | None,
    welcome: int,
    sent: int,
) -> Response:
    folders = d.mailboxes()
    page = d.list_messages(mailbox, limit=50, cursor=cursor)
    banner: dict[str, object] | None = None
    if welcome and _backend(request).feature(LAST_LOGON, p.account_id):
        history = logins(request, LAST_LOGON).since_last_login(p.account_id)
        banner = {
            "previous": history.previous,
            "failures": len(history.failures_since),
        }
    return _mailbox_response(request, p, folders, mailbox, page, banner, sent)


def _mailbox_response(
    request: Request,
    p: Principal,
    folders: list[MailboxInfo],
    mailbox: str,
    page: Page[MessageSummary],
    banner: dict[str, object] | None,
    sent: int,
) -> Response:
    return _render(
        request,
        "mailbox.html",
        {
            "me": p,
            "folders": _ordered(folders),
            "mailbox": mailbox,
            "page": page,
            "rows": _rows_html(mailbox, page.items),
            "banner": banner,
            "sent": sent,
            "csrf": csrf_for(request.cookies.get(SESSION_COOKIE, "")),
            "when": _when,
            "quote": quote,
        },
    )


# A message of at most this many bytes (whole, attachments included) is read,
# opened and rendered on the event loop, as the message list is; a larger one in
# the thread pool.
_LOOP_MESSAGE_BYTES = 64 * 1024


async def message(request: Request) -> Response:
    """A message, opened and marked read. Like the message list: read, opened
    and rendered on the event loop when small, sent once its record is written
    (with the other pages' of the turn)."""
    p = await principal(request)
    d = await door(p, request)
    mailbox = str(request.path_params["mailbox"])
    message_id = str(request.path_params["message_id"])
    images = _number(request, "images")

    def render(page: MessagePage) -> Response:
        return _message_page(request, p, page, mailbox, images)

    return await _sent_once_recorded(
        request,
        lambda: d.message_view_deferred(
            message_id, open_up_to=_LOOP_MESSAGE_BYTES, folders_up_to=_LOOP_FOLDERS
        ),
        render,
    )


def _message_page(
    request: Request, p: Principal, page: MessagePage, mailbox: str, images: int
) -> Response:
    view = page.view
    return _render(
        request,
        "message.html",
        {
            "images": bool(images),
            "has_remote_images": bool(view.html and _REMOTE_IMG.search(view.html)),
            "me": p,
            "mailbox": mailbox,
            "m": view,
            "folders": _ordered(page.folders),
            "csrf": csrf_for(request.cookies.get(SESSION_COOKIE, "")),
            "when": _when,
            "quote": quote,
        },
    )


# Added to the application ahead of the routers (`create_app`): each router is
# matched in turn, so the first place also saves the matching.
PLAIN_ROUTES = [
    Route("/mail/{mailbox}", mailbox, methods=["GET"], include_in_schema=False),
    Route("/mail/{mailbox}/{message_id}", message, methods=["GET"], include_in_schema=False),
]
for _route in PLAIN_ROUTES:
    # GET only, as the FastAPI routes were: Starlette adds HEAD to a GET route,
    # and a HEAD of a message page would mark it read and record the reading.
    _route.methods = {"GET"}


@router.get("/mail/{mailbox}/{message_id}/body")
def message_body(
    mailbox: str, message_id: str, d: Annotated[MailAccess, Depends(door)], images: int = 0
) -> Response:
    """The HTML body for the sandboxed iframe (its own strict CSP). `images=1`: the
    reader chose to load this message's remote images (still no scripts)."""
    view = d.get_message(message_id, mark_seen=False)
    return HTMLResponse(
        body_document(view.html or "", remote_images=bool(images)),
        headers={
            "content-security-policy": BODY_CSP_REMOTE_IMAGES if images else BODY_CSP,
            "x-frame-options": "SAMEORIGIN",
        },
    )


@router.get("/mail/{mailbox}/{message_id}/attachments/{index}")
def attachment(
    mailbox: str, message_id: str, index: int, d: Annotated[MailAccess, Depends(door)]
) -> Response:
    part = d.get_attachment(message_id, index)
    name = part.filename or f"attachment-{index}"
    return Response(
        part.data,
        media_type="application/octet-stream",
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "x-content-type-options": "nosniff",
            "content-security-policy": "default-src 'none'; sandbox",
        },
    )
