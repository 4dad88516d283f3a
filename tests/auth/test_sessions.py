"""Sessions: only a keyed hash of the token is stored; a wrong row is caught."""

import dataclasses
import sqlite3

import pytest

import mailward.auth.sessions as sessions_module
from mailward.core.errors import AuthError, IntegrityError
from mailward.core.principal import Protocol
from support import DOMAIN, PASSWORD, World


def login(world: World, name: str, device: str = "pytest") -> tuple[str, str]:
    p = world.rt.logins.login(
        f"{name}@{DOMAIN}", PASSWORD, protocol=Protocol.WEB, remote="10.0.0.1"
    )
    return world.rt.sessions.create(p, device), p.session_id


def test_token_resolves_to_its_principal_and_is_not_stored(world: World) -> None:
    token, sid = login(world, "alice")
    p = world.rt.sessions.resolve(token, remote="10.0.0.2", protocol=Protocol.WEB)
    assert (p.account_id, p.session_id, p.address) == (
        world.users["alice"].account_id,
        sid,
        f"alice@{DOMAIN}",
    )
    assert p.remote == "10.0.0.2"
    db = sqlite3.connect(world.rt.db.path)
    dump = "\n".join(db.iterdump())
    assert token not in dump
    with pytest.raises(AuthError):
        world.rt.sessions.resolve(token + "x", remote="", protocol=Protocol.WEB)


def test_revoked_sessions_and_sign_out_others(world: World) -> None:
    t1, _ = login(world, "alice", "laptop")
    t2, _ = login(world, "alice", "phone")
    me = world.rt.sessions.resolve(t1, remote="", protocol=Protocol.WEB)
    assert {s.device for s in world.rt.sessions.live(me.account_id)} >= {"laptop", "phone"}
    assert world.rt.sessions.revoke_others(me) >= 1
    with pytest.raises(AuthError):
        world.rt.sessions.resolve(t2, remote="", protocol=Protocol.WEB)
    assert (
        world.rt.sessions.resolve(t1, remote="", protocol=Protocol.WEB).session_id == me.session_id
    )


def test_a_session_idle_past_the_timeout_is_refused_and_not_listed_as_live(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_token, _ = login(world, "alice", "old laptop")
    new_token, _ = login(world, "alice", "phone")
    me = world.rt.sessions.resolve(new_token, remote="", protocol=Protocol.WEB)
    later = sessions_module._now_us() + (sessions_module.IDLE_TIMEOUT_S + 60) * 1_000_000
    # The phone was used just now (in the future below); the laptop not since it signed in.
    world.rt.sessions.store.touch_session(me.account_id, me.session_id, later)
    monkeypatch.setattr(sessions_module, "_now_us", lambda: later + 1)
    with pytest.raises(AuthError):
        world.rt.sessions.resolve(old_token, remote="", protocol=Protocol.WEB)
    assert [s.device for s in world.rt.sessions.live(me.account_id)] == ["phone"]


def test_a_store_returning_another_sessions_row_is_caught(world: World) -> None:
    alice_token, _ = login(world, "alice")
    bob_token, _ = login(world, "bob")
    store = world.rt.sessions.store
    bob_row = store.session_by_token_hash(world.rt.sessions._hash(bob_token))
    assert bob_row is not None

    class CrossWired:
        """The store answers every lookup with bob's row (a wrong join)."""

        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        def session_by_token_hash(self, token_hash: bytes) -> object:
            return bob_row

    crossed = dataclasses.replace(world.rt.sessions, store=CrossWired())  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        crossed.resolve(alice_token, remote="", protocol=Protocol.WEB)
