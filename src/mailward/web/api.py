"""The JSON API under /api/v1 (OpenAPI at /api/openapi.json).

Authentication: `POST /api/v1/session` returns a token for `Authorization: Bearer`;
a signed-in browser's session cookie works too (GET only: a change made with a
cookie needs the page's CSRF token, so the API's changes take a bearer token).
Errors are `application/problem+json` (RFC 9457), mapped in `problem()`.
"""

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from mailward.access import MailAccess
from mailward.core.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    IsolationViolation,
    NotFound,
    PermissionDenied,
)
from mailward.core.message import MessageSummary
from mailward.core.principal import Principal, Protocol
from mailward.web.alerts import new_device_alert
from mailward.web.boundary import witness
from mailward.web.pages import _backend, signed_in
from mailward.web.pages import logins as login_history
from mailward.web.render import sanitize
from mailward.web.search import query_of
from mailward.web.session import SESSION_COOKIE, client_ip, device

router = APIRouter(prefix="/api/v1", tags=["mail"])

_PROBLEMS: list[tuple[type[Exception], int, str]] = [
    (AuthError, 401, "Not signed in"),
    (NotFound, 404, "Not found"),
    (IsolationViolation, 404, "Not found"),  # recorded by the door; to the caller: absent
    (PermissionDenied, 403, "Forbidden"),
    (InvalidInput, 400, "Invalid request"),
    (Conflict, 409, "Conflict"),
]


def problem(exc: Exception) -> JSONResponse:
    status, title = next(
        ((st, t) for kind, st, t in _PROBLEMS if isinstance(exc, kind)), (500, "Internal error")
    )
    detail = {404: "no such item", 500: "the request could not be completed"}.get(status, str(exc))
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


async def api_principal(request: Request) -> Principal:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not token and request.method == "GET":
        token = request.cookies.get(SESSION_COOKIE, "")
    return await signed_in(request, token, Protocol.API)


async def api_door(p: Annotated[Principal, Depends(api_principal)], request: Request) -> MailAccess:
    return witness(request, _backend(request).door(p))


class Credentials(BaseModel):
    address: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    totp: str | None = Field(default=None, max_length=12)


class Token(BaseModel):
    token: str


class Mailbox(BaseModel):
    name: str
    special_use: str | None
    total: int
    unread: int
    uidvalidity: int
    uidnext: int


class Summary(BaseModel):
    id: str
    mailbox: str
    uid: int
    date: datetime
    size: int
    flags: list[str]
    unread: bool
    subject: str
    sender: str
    to: str
    cc: str
    snippet: str
    has_attachments: bool


class MessagePage(BaseModel):
    items: list[Summary]
    cursor: str | None


class Attachment(BaseModel):
    index: int
    filename: str
    content_type: str
    size: int


class Message(BaseModel):
    summary: Summary
    headers: list[tuple[str, str]]
    text: str
    html: str | None = Field(description="sanitised HTML (nh3 allow-list), or null")
    attachments: list[Attachment]


class Login(BaseModel):
    at: datetime
    address: str
    remote: str
    protocol: str
    client: str
    success: bool
    reason: str


class Access(BaseModel):
    at: datetime
    actor: str
    protocol: str
    remote: str
    mailbox: str
    action: str
    part: str
    items: int
    outcome: str


def _summary(m: MessageSummary) -> Summary:
    return Summary(
        id=m.id, mailbox=m.mailbox, uid=m.uid, date=m.internal_date, size=m.size,
        flags=sorted(m.flags), unread=m.unread, subject=m.subject, sender=m.sender, to=m.to,
        cc=m.cc, snippet=m.snippet, has_attachments=m.has_attachments,
    )  # fmt: skip


@router.post("/session", response_model=Token, status_code=201)
def create_session(body: Credentials, request: Request) -> Token:
    b = _backend(request)
    p = b.logins.login(
        body.address, body.password, remote=client_ip(request), protocol=Protocol.API,
        client=device(request), code=body.totp or "",
    )  # fmt: skip
    token = b.sessions.create(p, device(request))
    if b.logins.is_new_device(p, device(request)):
        new_device_alert(b, p, device(request), str(request.base_url))
    return Token(token=token)


@router.delete("/session", status_code=204)
def end_session(request: Request, p: Annotated[Principal, Depends(api_principal)]) -> Response:
    _backend(request).sessions.revoke(p.account_id, p.session_id)
    return Response(status_code=204)


@router.get("/mailboxes", response_model=list[Mailbox])
def mailboxes(d: Annotated[MailAccess, Depends(api_door)]) -> list[Mailbox]:
    return [
        Mailbox(name=b.name, special_use=b.special_use.value if b.special_use else None,
                total=b.total, unread=b.unread, uidvalidity=b.uidvalidity, uidnext=b.uidnext)
        for b in d.mailboxes()
    ]  # fmt: skip


@router.get("/mailboxes/{mailbox}/messages", response_model=MessagePage)
def messages(
    mailbox: str,
    d: Annotated[MailAccess, Depends(api_door)],
    limit: int = 50,
    cursor: str | None = None,
) -> MessagePage:
    page = d.list_messages(mailbox, limit=limit, cursor=cursor)
    return MessagePage(items=[_summary(m) for m in page.items], cursor=page.cursor)


@router.get("/mailboxes/{mailbox}/search", response_model=MessagePage)
def search(
    mailbox: str,
    d: Annotated[MailAccess, Depends(api_door)],
    sender: str = "",
    to: str = "",
    subject: str = "",
    text: str = "",
    since: str = "",
    before: str = "",
    limit: int = 50,
    cursor: str | None = None,
) -> MessagePage:
    """Matches newest first; `cursor` continues a bounded scan (also after a page
    that is not full); null when the whole folder was searched."""
    page = d.search(mailbox, query_of(sender, to, subject, text, since, before), limit, cursor)
    return MessagePage(items=[_summary(m) for m in page.items], cursor=page.cursor)


@router.get("/messages/{message_id}", response_model=Message)
def message(message_id: str, d: Annotated[MailAccess, Depends(api_door)]) -> Message:
    v = d.get_message(message_id)
    return Message(
        summary=_summary(v.summary),
        headers=[(k, v2) for k, v2 in v.headers],
        text=v.text,
        html=sanitize(v.html) if v.html else None,
        attachments=[Attachment(index=a.index, filename=a.filename,
                                content_type=a.content_type, size=a.size) for a in v.attachments],
    )  # fmt: skip


@router.get("/messages/{message_id}/raw", response_class=Response)
def raw(message_id: str, d: Annotated[MailAccess, Depends(api_door)]) -> Response:
    r = d.get_raw(message_id)
    return Response(
        r.data,
        media_type="message/rfc822",
        headers={"content-disposition": f'attachment; filename="{r.id}.eml"'},
    )


@router.get("/messages/{message_id}/attachments/{index}", response_class=Response)
def attachment(
    message_id: str, index: int, d: Annotated[MailAccess, Depends(api_door)]
) -> Response:
    part = d.get_attachment(message_id, index)
    name = quote(part.filename or f"attachment-{index}")
    return Response(
        part.data,
        media_type="application/octet-stream",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{name}"},
    )


@router.get("/account/logins", response_model=list[Login])
def logins(request: Request, p: Annotated[Principal, Depends(api_principal)]) -> list[Login]:
    return [
        Login(at=e.at, address=e.address, remote=e.remote, protocol=e.protocol, client=e.client,
              success=e.success, reason=e.reason)
        for e in login_history(request).history(p.account_id, 100)
    ]  # fmt: skip


@router.get("/account/access", response_model=list[Access])
def access(d: Annotated[MailAccess, Depends(api_door)]) -> list[Access]:
    return [
        Access(at=a.at, actor=a.actor, protocol=a.protocol, remote=a.remote, mailbox=a.mailbox,
               action=a.action, part=a.part, items=a.items, outcome=a.outcome)
        for a in d.accesses_by_others(200)
    ]  # fmt: skip


__all__ = ["problem", "router"]
