"""Commands in any state, and logging in: CAPABILITY NOOP LOGOUT ID ENABLE
NAMESPACE CHECK IDLE STARTTLS LOGIN AUTHENTICATE (RFC 9051 §6.1-6.3)."""

import asyncio
import base64
import binascii
import contextlib
from typing import TYPE_CHECKING

from mailward.core.errors import AuthError
from mailward.core.principal import Protocol
from mailward.imap.protocol import Command
from mailward.imap.replies import OK_DONE, Reply
from mailward.imap.state import State, TooLong

if TYPE_CHECKING:
    from mailward.imap.session import Session


async def capability(s: "Session", cmd: Command) -> Reply:
    s.untagged(b"CAPABILITY " + s.capabilities().encode())
    return OK_DONE


async def noop(s: "Session", cmd: Command) -> Reply:
    return ("OK", "NOOP done")  # the session sends the updates after every command


async def check(s: "Session", cmd: Command) -> Reply:
    return ("OK", "CHECK done (every change is durable when it is answered)")


async def logout(s: "Session", cmd: Command) -> Reply:
    s.untagged(b"BYE logging out")
    s.state = State.LOGOUT
    s.done = True
    return ("OK", "LOGOUT done")


async def id_(s: "Session", cmd: Command) -> Reply:
    """RFC 2971. The client's name goes into the login record."""
    fields = cmd.args if isinstance(cmd.args, dict) else {}
    name = fields.get("name", "")
    version = fields.get("version", "")
    s.client_id = f"{name} {version}".strip()[:200]
    s.untagged(b'ID ("name" "mailward")')
    return ("OK", "ID done")


async def enable(s: "Session", cmd: Command) -> Reply:
    """RFC 5161: CONDSTORE (RFC 7162 §3.1) is what can be enabled (only announced
    capabilities can; 8-bit mailbox names are read as UTF-8 anyway)."""
    words = cmd.args if isinstance(cmd.args, tuple) else ()
    done = [w for w in words if w in ("CONDSTORE",)]
    s.enabled.update(done)
    if "CONDSTORE" in done and s.selected is not None:
        s.selected.condstore = True  # RFC 7162 §3.1: from now on in this session
    s.untagged(b"ENABLED" + b"".join(b" " + w.encode() for w in done))
    return ("OK", "ENABLE done")


async def namespace(s: "Session", cmd: Command) -> Reply:
    """RFC 2342: one personal namespace, "/" as the hierarchy delimiter."""
    s.untagged(b'NAMESPACE (("" "/")) NIL NIL')
    return ("OK", "NAMESPACE done")


async def idle(s: "Session", cmd: Command) -> Reply:
    """RFC 2177: updates as they happen until the client says DONE. The listener's
    watcher (imap/idle.py) wakes the session when its mailbox changed."""
    s.conn.send(b"+ idling\r\n")
    await s.conn.flush()
    woken = s.hub.join(s)
    reading = asyncio.ensure_future(s.conn.read_line(None))
    try:
        while True:
            waking = asyncio.ensure_future(woken.wait())
            done, _ = await asyncio.wait(
                {reading, waking}, timeout=s.idle_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            waking.cancel()
            if not done:
                s.untagged(b"BYE idle for too long")
                s.done = True
                return ("OK", "IDLE ended")
            if reading in done:
                try:
                    line = reading.result()
                except (TooLong, ConnectionError, TimeoutError):
                    return ("BAD", "expected DONE")
                if line is None:
                    s.done = True
                    return ("OK", "IDLE ended")
                if line.strip().upper() == b"DONE":
                    return ("OK", "IDLE terminated")
                return ("BAD", "expected DONE")
            woken.clear()
            if s.backend.stopped():
                s.untagged(b"BYE [UNAVAILABLE] IMAP is stopped for maintenance")
                s.done = True
                return ("OK", "IDLE ended")
            await s.refresh(expunges=True)
            await s.conn.flush()
    finally:
        s.hub.leave(s)
        if not reading.done():
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading


async def starttls(s: "Session", cmd: Command) -> Reply:
    if s.conn.tls:
        return ("BAD", "TLS is already on")
    if s.conn.pending_input():  # plaintext sent after STARTTLS: never run it under TLS
        s.untagged(b"BYE commands pipelined after STARTTLS")
        s.done = True
        return ("BAD", "nothing may follow STARTTLS before the TLS handshake")
    s.conn.send(f"{cmd.tag} OK begin TLS negotiation now\r\n".encode())
    await s.conn.flush()
    await s.conn.start_tls()
    return ("", "")  # already answered


async def _login(s: "Session", user: str, password: str) -> Reply:
    if not s.login_allowed():
        return ("NO", "[PRIVACYREQUIRED] use STARTTLS first")
    client = f"imap {s.client_id}".strip()
    try:
        principal = await s.call(
            s.backend.logins.login, user, password, remote=s.remote, protocol=Protocol.IMAP,
            client=client,
        )  # fmt: skip
    except AuthError as exc:
        return ("NO", f"[AUTHENTICATIONFAILED] {exc}")
    s.login(principal)
    return ("OK", f"[CAPABILITY {s.capabilities()}] logged in")


async def login(s: "Session", cmd: Command) -> Reply:
    user, password = cmd.args if isinstance(cmd.args, tuple) else ("", "")
    return await _login(s, str(user), str(password))


async def authenticate(s: "Session", cmd: Command) -> Reply:
    """RFC 4616 PLAIN, with or without an initial response (RFC 4959)."""
    args = cmd.args if isinstance(cmd.args, tuple) else ()
    if not args or args[0] != "PLAIN":
        return ("NO", "[CANNOT] only AUTHENTICATE PLAIN is supported")
    if not s.login_allowed():
        return ("NO", "[PRIVACYREQUIRED] use STARTTLS first")
    if len(args) > 1:
        answer = args[1].encode()
    else:
        s.conn.send(b"+ \r\n")
        await s.conn.flush()
        line = await s.conn.read_line(60.0)
        if line is None:
            s.done = True
            return ("BAD", "no answer")
        answer = line.strip()
    if answer == b"*":
        return ("BAD", "authentication cancelled")
    try:
        decoded = base64.b64decode(b"" if answer == b"=" else answer, validate=True)
        authz, user, password = decoded.split(b"\x00")
    except (binascii.Error, ValueError):
        return ("BAD", "malformed PLAIN response")
    if authz and authz.lower() != user.lower():  # RFC 4616 §2: no acting as another
        return ("NO", "[AUTHORIZATIONFAILED] acting as another account is not allowed")
    return await _login(s, user.decode("utf-8", "replace"), password.decode("utf-8", "replace"))
