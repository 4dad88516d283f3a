"""DRILL FAULTS in the web stack (live only with `serve --inject-fault`).

Two deliberately faulty "performance features", each behind its flag and live for
accounts inside that flag's rollout. They sit between the boundary and the
routes, where real caches and connection pools sit, so the stamp a response
carries is all the boundary has to notice the mix-up.

- `shared-cache` (flag "page-cache"): folder pages cached for two seconds by path
  alone, served to whoever asks next;
- `connection-mixup` (flag "fast-replies"): now and then a request is "cancelled"
  and its reply left behind; the next request is handed the reply left behind
  (and leaves its own), as on a shared connection.

Each crossing they attempt is noted in the drill's ground-truth log first.
"""

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailward.auth import Sessions
from mailward.core.errors import MailwardError
from mailward.core.principal import Principal, Protocol
from mailward.guard import Stamp, Switches
from mailward.web.boundary import STAMP_HEADER
from mailward.web.session import session_token

CACHE_S = 2.0
CANCEL_ONE_IN = 5


@dataclass(slots=True)
class _Reply:
    owner: str
    messages: list[Message]
    at: float


def _flagged(messages: list[Message], flag: str) -> list[Message]:
    """The reply with `flag` added to its stamp (the feature it went through)."""
    out = []
    for m in messages:
        if m["type"] == "http.response.start":
            headers = [(k, v) for k, v in m.get("headers", []) if k != STAMP_HEADER]
            old = [v for k, v in m.get("headers", []) if k == STAMP_HEADER]
            stamp = Stamp.decode(old[0].decode("latin-1")) if old else Stamp()
            stamp.flags.add(flag)
            m = {**m, "headers": [*headers, (STAMP_HEADER, stamp.encode().encode("latin-1"))]}
        out.append(m)
    return out


def _principal(scope: Scope) -> Principal | None:
    p = scope.get("state", {}).get("principal")
    return p if isinstance(p, Principal) else None


class FaultyPageCache:
    def __init__(
        self,
        app: ASGIApp,
        switches: Switches,
        sessions: Sessions,
        crossing: Callable[[str, str, str, str], None],
    ) -> None:
        self.app = app
        self.switches = switches
        self.sessions = sessions
        self.crossing = crossing
        self._cache: dict[str, _Reply] = {}
        self._lock = threading.Lock()

    def _who(self, scope: Scope) -> str:
        """Ground truth only: the account the asking request is signed in as."""
        try:
            token = session_token(scope)
            return str(self.sessions.resolve(token, remote="", protocol=Protocol.WEB).account_id)
        except MailwardError:
            return ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or scope.get("method") != "GET" or path.count("/") != 2:
            await self.app(scope, receive, send)
            return
        if not path.startswith("/mail/"):
            await self.app(scope, receive, send)
            return
        key = path + "?" + scope.get("query_string", b"").decode("latin-1")
        with self._lock:
            hit = self._cache.get(key)
        if (
            hit is not None
            and time.monotonic() - hit.at < CACHE_S
            and self.switches.enabled("page-cache", hit.owner)
        ):
            receiver = await anyio.to_thread.run_sync(self._who, scope)
            # Looked at again after the thread hop: a flag rolled back meanwhile
            # stops the cached reply (else a slow hop shows as a crossing after
            # containment, though the decision to serve it came before).
            if self.switches.enabled("page-cache", hit.owner):
                if receiver != hit.owner:
                    self.crossing("shared-cache", receiver, hit.owner, key)
                for m in hit.messages:
                    await send(m)
                return
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(dict(message))
            await send(message)

        await self.app(scope, receive, capture)
        p = _principal(scope)
        status = next((m.get("status") for m in captured if m["type"] == "http.response.start"), 0)
        if p is not None and status == 200 and self.switches.enabled("page-cache", p.account_id):
            with self._lock:
                self._cache[key] = _Reply(
                    p.account_id, _flagged(captured, "page-cache"), time.monotonic()
                )


class FaultyReplies:
    def __init__(
        self, app: ASGIApp, switches: Switches, crossing: Callable[[str, str, str, str], None]
    ) -> None:
        self.app = app
        self.switches = switches
        self.crossing = crossing
        self._left: _Reply | None = None
        self._lock = threading.Lock()
        self._random = random.Random(7)  # noqa: S311 - a drill's dice, not a secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/mail/"):
            await self.app(scope, receive, send)
            return
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        p = _principal(scope)
        if p is None or not self.switches.enabled("fast-replies", p.account_id):
            for m in captured:
                await send(m)
            return
        own = _Reply(p.account_id, _flagged(captured, "fast-replies"), time.monotonic())
        with self._lock:
            left, cancelled = self._left, False
            if left is not None:
                self._left = own
            elif self._random.randrange(CANCEL_ONE_IN) == 0:
                self._left, cancelled = own, True
        if cancelled:  # this client gave up waiting; its reply stays behind
            await send({"type": "http.response.start", "status": 504, "headers": []})
            await send({"type": "http.response.body", "body": b"cancelled"})
            return
        reply = left if left is not None else own
        if reply.owner != p.account_id:
            self.crossing("connection-mixup", p.account_id, reply.owner, str(scope["path"]))
        for m in reply.messages:
            await send(m)
