"""The mail protocols' login cache: successes only, tied to the password hash."""

from pathlib import Path

import pytest

from mailward.core.errors import AuthError
from mailward.core.principal import Protocol
from support import PASSWORD, build_world


def test_cached_success_skips_argon2_but_not_failures(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice",))
    rt = world.rt
    calls = {"n": 0}
    real = rt.logins.passwords.verify

    def counting(stored: str | None, password: str) -> bool:
        calls["n"] += 1
        return real(stored, password)

    rt.logins.passwords.verify = counting  # type: ignore[method-assign]
    address = "alice@example.test"
    rt.logins.login(address, PASSWORD, protocol=Protocol.IMAP)
    rt.logins.login(address, PASSWORD, protocol=Protocol.IMAP)
    rt.logins.login(address, PASSWORD, protocol=Protocol.POP3)
    assert calls["n"] == 1  # one full check, then the cache
    for _ in range(2):
        with pytest.raises(AuthError):
            rt.logins.login(address, "wrong password!", protocol=Protocol.IMAP)
    assert calls["n"] == 3  # every failure paid in full
    rt.logins.login(address, PASSWORD, protocol=Protocol.WEB)
    assert calls["n"] == 4  # the web never uses the cache
    events = rt.logins.history(world.users["alice"].account_id)
    assert sum(1 for e in events if e.success and e.protocol == "imap") == 2  # each recorded


def test_password_change_ends_cached_logins(tmp_path: Path) -> None:
    world = build_world(tmp_path / "d", ("alice",))
    rt = world.rt
    address = "alice@example.test"
    rt.logins.login(address, PASSWORD, protocol=Protocol.IMAP)
    rt.logins.change_password(world.users["alice"], PASSWORD, "a brand new password")
    with pytest.raises(AuthError):
        rt.logins.login(address, PASSWORD, protocol=Protocol.IMAP)
    rt.logins.login(address, "a brand new password", protocol=Protocol.IMAP)
