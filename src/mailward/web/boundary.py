"""The web's side of containment: stamping what a response carries, and the
boundary that checks it against the request's principal before a byte is sent.

Middleware order, outermost first: `Boundary` (kill switch, guard check, strips the
stamp) → [fault injection, drills only] → security headers → `Stamping` (puts the
request's stamp on its response) → the routes. Routes reach the door and the login
history through `witness`, which adds everything they return to the request's
stamp; the stamp then travels with the response, so if the response reaches
another request it still says whose it is.
"""

import dataclasses
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

import anyio
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailward.access import Pending
from mailward.auth import Sessions
from mailward.core.errors import MailwardError
from mailward.core.message import FolderPage, MessagePage
from mailward.core.principal import Principal, Protocol
from mailward.guard import PROTOCOL_SCOPE, Guard, Stamp, Switches
from mailward.web.headers import COMMON_HEADERS
from mailward.web.session import session_token

T = TypeVar("T")
STAMP_HEADER = b"x-mailward-stamp"
# The part of an item each call hands out (attachments: numbered below).
_PARTS = {
    "list_messages": "list-entry",
    "mailbox_view_deferred": "list-entry",
    "get_summary": "list-entry",
    "search": "list-entry",
    "get_message": "body",
    "message_view_deferred": "body",
    "get_raw": "raw",
    "mailboxes": "-",
    "history": "logins",
    "since_last_login": "logins",
    "accesses_by_others": "-",
    "live": "sessions",
}


def stamp_of(request: Request) -> Stamp:
    stamp = getattr(request.state, "stamp", None)
    if stamp is None:
        stamp = Stamp()
        request.state.stamp = stamp
    return cast(Stamp, stamp)


class _Witness:
    """Forwards calls to `target` and adds each result to the stamp."""

    __slots__ = ("_flag", "_stamp", "_target")

    def __init__(self, target: object, stamp: Stamp, flag: str) -> None:
        self._target = target
        self._stamp = stamp
        self._flag = flag

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        stamp, flag = self._stamp, self._flag

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if name == "get_attachment":
                part = f"attachment:{args[1] if len(args) > 1 else kwargs.get('index')}"
            else:
                part = _PARTS.get(name, name)
            if isinstance(result, Pending):  # stamped when it hands the result out
                return result.then(lambda value: _stamp(stamp, value, part, flag))
            stamp.add(result, part, flag)
            return result

        return call


def _stamp(stamp: Stamp, value: object, part: str, flag: str) -> None:
    if isinstance(value, FolderPage):  # the folder list is no message list
        stamp.add(value.folders, _PARTS["mailboxes"], flag)
        stamp.add(value.page, part, flag)
    elif isinstance(value, MessagePage):  # nor a message
        stamp.add(value.folders, _PARTS["mailboxes"], flag)
        stamp.add(value.view, part, flag)
    else:
        stamp.add(value, part, flag)


def witness(request: Request, target: T, flag: str = "") -> T:
    """`target` (a door, the login history) with every result stamped on the
    response; `flag`: the feature flag of the code path using it."""
    return cast(T, _Witness(target, stamp_of(request), flag))


class Stamping:
    """Innermost: the request's stamp goes onto its response as an internal header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = scope.get("state", {}).get("stamp")
                if isinstance(stamp, Stamp) and (stamp.entries or stamp.flags):
                    value = stamp.encode().encode("latin-1")
                    message["headers"] = [*message.get("headers", []), (STAMP_HEADER, value)]
            await send(message)

        await self.app(scope, receive, stamped)


_LATER = "temporarily unavailable; try again later"
_UNAVAILABLE_HTML = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Maintenance</title>"
    b"<link rel=stylesheet href=/static/style.css><main class=narrow><h1>Back soon</h1>"
    b"<p>Mail is briefly unavailable for maintenance. Nothing is lost: please try again"
    b" in a few minutes.</p></main>"
)
_REFUSED_HTML = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Could not be shown</title>"
    b"<link rel=stylesheet href=/static/style.css><main class=narrow><h1>This page could not"
    b" be shown</h1><p>Something went wrong on our side and the page was stopped before it"
    b" was sent. Please reload in a moment.</p></main>"
)


async def _reply(send: Send, status: int, api: bool, html: bytes, detail: str) -> None:
    if api:
        title = "Service Unavailable" if status == 503 else "Internal error"
        doc = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        body, kind = json.dumps(doc).encode(), b"application/problem+json"
    else:
        body, kind = html, b"text/html; charset=utf-8"
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"private, no-store"),
        (b"content-security-policy", b"default-src 'none'; style-src 'self'"),
        *COMMON_HEADERS,  # the same as every other response (SecurityHeaders)
    ]
    if status == 503:
        headers.append((b"retry-after", b"60"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Boundary:
    """Outermost: nothing leaves unless the kill switch is off for its protocol and
    the guard passes its stamp for the principal of the request it answers."""

    def __init__(
        self,
        app: ASGIApp,
        guard: Callable[[], Guard | None],
        switches: Callable[[], Switches | None],
        sessions: Callable[[], Sessions],
    ) -> None:
        self.app = app
        self._guard = guard
        self._switches = switches
        self._sessions = sessions

    def _who(self, scope: Scope, protocol: Protocol, remote: str) -> Principal | None:
        """The principal of a request no route resolved (a reply that never reached
        a route, e.g. from a cache): from its own cookie or bearer token."""
        token = session_token(scope)
        try:
            return self._sessions().resolve(token, remote=remote, protocol=protocol)
        except MailwardError:
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        api = path.startswith("/api/")
        protocol = Protocol.API if api else Protocol.WEB
        switches, guard = self._switches(), self._guard()
        # Static files carry no data; the containment page must stay reachable to
        # release the switch (it is guarded like every page).
        exempt = path.startswith(("/static/", "/admin"))
        if switches is not None and not exempt and switches.engaged(PROTOCOL_SCOPE[protocol]):
            await _reply(
                send, 503, api, _UNAVAILABLE_HTML, "temporarily unavailable; try again later"
            )
            return
        replaced = False

        async def guarded(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the rest of a response that was stopped
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                raw = [v for k, v in headers if k.lower() == STAMP_HEADER]
                kept = [(k, v) for k, v in headers if k.lower() != STAMP_HEADER]
                message = {**message, "headers": kept}  # never change the sender's copy
                # In flight: a switch thrown while this request ran stops it here.
                if (
                    switches is not None
                    and not exempt
                    and switches.engaged(PROTOCOL_SCOPE[protocol])
                ):
                    replaced = True
                    await _reply(
                        send,
                        503,
                        api,
                        _UNAVAILABLE_HTML,
                        "temporarily unavailable; try again later",
                    )
                    return
                if raw and guard is not None:
                    text = raw[0].decode("latin-1")
                    principal = scope.get("state", {}).get("principal")
                    p = principal if isinstance(principal, Principal) else None
                    if p is not None and p.receiver is not None:  # a mix-up let through
                        p = dataclasses.replace(p, account_id=p.receiver, receiver=None)
                    if Stamp.owners_in(text) - _me(p):  # rare: another's data, or a grant
                        stamp = Stamp.decode(text)
                        client = scope.get("client")
                        remote = str(client[0]) if client else ""
                        if p is None:
                            p = await anyio.to_thread.run_sync(self._who, scope, protocol, remote)
                        verdict = await anyio.to_thread.run_sync(
                            guard.check, p, stamp, protocol, remote
                        )
                        if not verdict.send:
                            replaced = True
                            await _reply(send, 500, api, _REFUSED_HTML, "the response was stopped")
                            return
            await send(message)

        await self.app(scope, receive, guarded)


def _me(p: Principal | None) -> set[str]:
    return {p.account_id} if p is not None else set()
