"""The kill switch and the feature flags: one small state file every process reads.

The file (`<data>/guard.json`) is replaced atomically under a lock; readers keep a
parsed copy and re-read it when its inode or mtime changes (one `stat` per check),
so a switch thrown by `mailward killswitch engage` or by a guard trip in another
worker process takes effect for the next request and for the next check of an
in-flight one: microseconds, not a polling period.

Kill switch scopes: `all`, a protocol (web, api, imap, pop3, smtp-in, submission)
or `flag:NAME` (that feature off for everyone, whatever its rollout).

A flag is on for an account when the account's bucket (SHA-256 of flag name and
account id, 0..9999) is below the rollout percentage times 100. `rollout` moves a
flag to its next stage only after it has run `soak_s` at the current one without a
trip; a trip rolls it back to 0 % at once (guard/boundary.py).
"""

import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailward.core.errors import InvalidInput

PROTOCOL_SCOPES = ("web", "api", "imap", "pop3", "smtp-in", "submission")
STAGES = (1.0, 10.0, 50.0, 100.0)
DEFAULT_SOAK_S = 3600.0
# Features that ship behind a flag, with the rollout a new data directory starts at.
KNOWN_FLAGS = {"last-logon": 100.0}


@dataclass(frozen=True, slots=True)
class FlagState:
    name: str
    percent: float
    since: float  # when the percentage last changed (epoch seconds)
    soak_s: float
    history: tuple[dict[str, Any], ...] = field(default=())


def bucket(name: str, account_id: str) -> int:
    """The account's place (0..9999) in the flag's rollout order."""
    digest = hashlib.sha256(f"{name}\x00{account_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000


def valid_scope(scope: str) -> str:
    if scope == "all" or scope in PROTOCOL_SCOPES or scope.startswith("flag:"):
        return scope
    raise InvalidInput(f"unknown scope {scope!r}: all, {', '.join(PROTOCOL_SCOPES)} or flag:NAME")


def expand_scope(scope: str, known_flags: set[str]) -> list[str]:
    """The scopes a name given by an operator stands for: `smtp` is both SMTP
    listeners; a known feature flag's bare name is that flag's scope."""
    scope = scope.strip()
    if scope == "smtp":
        return ["smtp-in", "submission"]
    if scope in known_flags and scope not in PROTOCOL_SCOPES and scope != "all":
        return [f"flag:{scope}"]
    return [valid_scope(scope)]


class Switches:
    """Reads and changes the state file of one data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._seen: tuple[int, int, int] | None = None
        self._state: dict[str, Any] = {"killswitch": {}, "flags": {}}
        self._mutex = threading.Lock()

    # -- reading ------------------------------------------------------------------------

    def _current(self) -> dict[str, Any]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {"killswitch": {}, "flags": {}}
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._seen:
            with self._mutex:
                try:
                    self._state = json.loads(self.path.read_bytes())
                except (OSError, ValueError):
                    # A state file we cannot read: fail closed (everything stopped).
                    self._state = {"killswitch": {"all": {"reason": "unreadable state"}}}
                self._seen = key
        return self._state

    def engaged(self, scope: str) -> dict[str, Any] | None:
        """The kill switch entry stopping `scope` (or `all`), or None."""
        ks = self._current().get("killswitch", {})
        entry = ks.get("all") or ks.get(scope)
        return dict(entry) if entry else None

    def killswitch(self) -> dict[str, dict[str, Any]]:
        return dict(self._current().get("killswitch", {}))

    def flag(self, name: str) -> FlagState:
        raw = self._current().get("flags", {}).get(name)
        if raw is None:
            return FlagState(name, KNOWN_FLAGS.get(name, 0.0), 0.0, DEFAULT_SOAK_S)
        return FlagState(
            name,
            float(raw["percent"]),
            float(raw["since"]),
            float(raw.get("soak_s", DEFAULT_SOAK_S)),
            tuple(raw.get("history", ())),
        )

    def scopes(self, names: str) -> list[str]:
        """Comma-separated operator names (`all,web,smtp,last-logon`) as scopes."""
        known = {f.name for f in self.flags()}
        return [s for name in names.split(",") if name.strip() for s in expand_scope(name, known)]

    def flags(self) -> list[FlagState]:
        names = set(KNOWN_FLAGS) | set(self._current().get("flags", {}))
        return [self.flag(n) for n in sorted(names)]

    def enabled(self, name: str, account_id: str) -> bool:
        """Is the feature on for this account (rollout, and no kill switch on it)?"""
        state = self._current()
        ks = state.get("killswitch", {})
        if f"flag:{name}" in ks:
            return False
        raw = state.get("flags", {}).get(name)
        percent = float(raw["percent"]) if raw is not None else KNOWN_FLAGS.get(name, 0.0)
        return bucket(name, account_id) < percent * 100

    # -- changing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                state = json.loads(self.path.read_bytes())
            except FileNotFoundError:
                state = {"killswitch": {}, "flags": {}}
            yield state
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            with os.fdopen(
                os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8"
            ) as f:
                json.dump(state, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        finally:
            os.close(fd)

    def engage(self, scope: str, by: str, reason: str) -> None:
        scope = valid_scope(scope)
        with self._changing() as state:
            state.setdefault("killswitch", {})[scope] = {
                "at": time.time(),
                "by": by,
                "reason": reason,
            }

    def release(self, scope: str) -> bool:
        scope = valid_scope(scope)
        with self._changing() as state:
            return state.setdefault("killswitch", {}).pop(scope, None) is not None

    def set_flag(
        self, name: str, percent: float, by: str, reason: str, soak_s: float | None = None
    ) -> FlagState:
        if not 0.0 <= percent <= 100.0:
            raise InvalidInput("a rollout is a percentage from 0 to 100")
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise InvalidInput("a flag name is letters, digits, '-', '_' or '.'")
        with self._changing() as state:
            flags = state.setdefault("flags", {})
            raw = flags.get(name) or {"percent": KNOWN_FLAGS.get(name, 0.0), "history": []}
            now = time.time()
            history = list(raw.get("history", []))[-49:]
            history.append(
                {"at": now, "by": by, "from": raw["percent"], "to": percent, "why": reason}
            )
            raw.update(percent=percent, since=now, history=history)
            if soak_s is not None:
                raw["soak_s"] = soak_s
            flags[name] = raw
        return self.flag(name)

    def rollout(self, name: str, by: str, *, now: float | None = None) -> FlagState:
        """Promote the flag to its next stage, if it has soaked long enough.

        Raises:
            InvalidInput: at 100 % already, or the soak period has not passed.
        """
        current = self.flag(name)
        nxt = next((s for s in STAGES if s > current.percent), None)
        if nxt is None:
            raise InvalidInput(f"{name} is fully rolled out")
        waited = (time.time() if now is None else now) - current.since
        if current.percent > 0 and waited < current.soak_s:
            raise InvalidInput(
                f"{name} has run {waited:.0f} s of its {current.soak_s:.0f} s soak at"
                f" {current.percent:g} %; promote it later"
            )
        return self.set_flag(name, nxt, by, f"rollout to stage {nxt:g} %")
