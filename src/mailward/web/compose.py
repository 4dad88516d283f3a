"""Writing mail: compose, reply, reply-all, forward, with attachments; send (the
same path as SMTP submission: MailAccess.submit) or save as a draft."""

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailward.access import MailAccess
from mailward.core.errors import InvalidInput
from mailward.core.flags import Flags
from mailward.core.principal import Principal
from mailward.web.pages import _backend, _render, check_csrf, door, principal
from mailward.web.session import SESSION_COOKIE, csrf_for

router = APIRouter(include_in_schema=False)
MAX_ATTACHMENTS = 20


def _header(headers: Sequence[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key.lower() == name.lower()), "")


def _prefix(subject: str, prefix: str) -> str:
    return subject if subject.lower().startswith(prefix.lower()) else f"{prefix} {subject}"


def _quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


@router.get("/compose", response_class=HTMLResponse)
def compose_form(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    d: Annotated[MailAccess, Depends(door)],
    reply: str = "",
    all: int = 0,
    forward: str = "",
) -> Response:
    form = {"to": "", "cc": "", "subject": "", "body": "", "in_reply_to": "", "references": "",
            "forward_of": ""}  # fmt: skip
    if reply:
        m = d.get_message(reply, mark_seen=False)
        reply_to = _header(m.headers, "Reply-To") or m.summary.sender
        form["to"] = reply_to
        if all:
            me = p.address.lower()
            others = [
                f"{n} <{a}>" if n else a
                for n, a in getaddresses([m.summary.to, m.summary.cc])
                if a and a.lower() != me
            ]
            form["cc"] = ", ".join(others)
        form["subject"] = _prefix(m.summary.subject, "Re:")
        form["body"] = (
            f"\n\nOn {m.summary.internal_date:%Y-%m-%d %H:%M}, {m.summary.sender} wrote:\n"
        )
        form["body"] += _quoted(m.text)
        msgid = _header(m.headers, "Message-ID")
        form["in_reply_to"] = msgid
        form["references"] = " ".join(x for x in (_header(m.headers, "References"), msgid) if x)
    elif forward:
        m = d.get_message(forward, mark_seen=False)
        form["subject"] = _prefix(m.summary.subject, "Fwd:")
        form["body"] = (
            "\n\n---------- Forwarded message ----------\n"
            f"From: {m.summary.sender}\nDate: {m.summary.internal_date:%Y-%m-%d %H:%M}\n"
            f"Subject: {m.summary.subject}\nTo: {m.summary.to}\n\n{m.text}"
        )
        form["forward_of"] = forward
    return _render(
        request,
        "compose.html",
        {"me": p, "form": form, "csrf": csrf_for(request.cookies.get(SESSION_COOKIE, "")),
         "max_mb": _backend(request).max_message_bytes // (1024 * 1024)},
    )  # fmt: skip


def _recipients(*fields: str) -> list[str]:
    out = []
    for name, addr in getaddresses(list(fields)):
        if not addr:
            continue
        if "@" not in addr or " " in addr or "\r" in addr or "\n" in addr:
            raise InvalidInput(f"not an address: {name or addr}")
        out.append(addr)
    return out


@router.post("/compose")
async def compose(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    d: Annotated[MailAccess, Depends(door)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    to: Annotated[str, Form(max_length=10_000)] = "",
    cc: Annotated[str, Form(max_length=10_000)] = "",
    subject: Annotated[str, Form(max_length=1000)] = "",
    body: Annotated[str, Form(max_length=5_000_000)] = "",
    in_reply_to: Annotated[str, Form(max_length=1000)] = "",
    references: Annotated[str, Form(max_length=10_000)] = "",
    forward_of: Annotated[str, Form(max_length=100)] = "",
    action: Annotated[str, Form(max_length=10)] = "send",
    attachments: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    check_csrf(request, csrf)
    backend = _backend(request)
    limit = backend.max_message_bytes
    files = [f for f in (attachments or []) if f.filename]
    if len(files) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments")
    msg = EmailMessage()
    msg["From"] = p.address
    if to:
        msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=backend.hostname)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references or in_reply_to
    msg.set_content(body.replace("\r\n", "\n"))
    total = len(body)
    for f in files:
        data = await f.read(limit + 1)
        total += len(data)
        if total > limit:
            raise InvalidInput(
                f"the message with its attachments is larger than {limit // (1024 * 1024)} MB"
            )
        ctype = (f.content_type or "application/octet-stream").split(";")[0].strip().lower()
        main, _, sub = ctype.partition("/")
        if not main or not sub or main == "multipart":
            main, sub = "application", "octet-stream"
        msg.add_attachment(data, maintype=main, subtype=sub, filename=f.filename)
    if forward_of:
        for info in d.get_message(forward_of, mark_seen=False).attachments:
            part = d.get_attachment(forward_of, info.index)
            total += len(part.data)
            if total > limit:
                raise InvalidInput("the forwarded attachments make the message too large")
            main, _, sub = (info.content_type or "application/octet-stream").partition("/")
            msg.add_attachment(part.data, maintype=main, subtype=sub or "octet-stream",
                               filename=info.filename)  # fmt: skip
    raw = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if action == "draft":
        d.append("Drafts", raw, Flags.parse("\\Draft \\Seen"))
        return RedirectResponse("/mail/Drafts", status_code=303)
    rcpts = _recipients(to, cc)
    if not rcpts:
        raise InvalidInput("add at least one recipient")
    done = d.submit(p.address, rcpts, raw)
    if done.queued is not None:
        backend.queued()
    return RedirectResponse("/mail/INBOX?sent=1", status_code=303)
