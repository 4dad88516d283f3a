"""Passwords, accounts and the login record ("last logon")."""

import pytest

from mailward.auth.logins import MAX_FAILURES
from mailward.core.errors import AuthError, Conflict, InvalidInput, NotFound
from mailward.core.principal import Protocol
from support import PASSWORD, World


def test_password_is_stored_as_argon2id(world: World) -> None:
    row = world.rt.services.store.account_by_address("alice@example.test")
    assert row is not None and row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash


def test_every_attempt_is_recorded_with_reason(world: World) -> None:
    logins = world.rt.logins
    with pytest.raises(AuthError) as wrong:
        logins.login(
            "alice@example.test",
            "wrong password",
            remote="192.0.2.7",
            protocol=Protocol.WEB,
            client="Firefox/140",
        )
    with pytest.raises(AuthError) as unknown:
        logins.login("nobody@example.test", "whatever1", remote="192.0.2.8")
    assert str(wrong.value) == str(unknown.value)  # no hint whether the user exists
    p = logins.login(
        "ALICE@example.test",
        PASSWORD,
        remote="198.51.100.1",
        protocol=Protocol.IMAP,
        client="mbsync",
    )
    assert p.address == "alice@example.test" and p.protocol is Protocol.IMAP
    history = logins.history(world.users["alice"].account_id)
    latest, failure = history[0], history[1]
    assert (latest.success, latest.remote, latest.client, latest.protocol) == (
        True,
        "198.51.100.1",
        "mbsync",
        "imap",
    )
    assert (failure.success, failure.reason, failure.remote, failure.client) == (
        False,
        "bad-password",
        "192.0.2.7",
        "Firefox/140",
    )
    last = logins.since_last_login(world.users["alice"].account_id)
    assert last.previous is not None and last.previous.client == "pytest"
    assert [f.remote for f in last.failures_since] == ["192.0.2.7"]
    unknown_rows = (
        world.rt.db.read()
        .execute("SELECT reason FROM login_events WHERE address = 'nobody@example.test'")
        .fetchall()
    )
    assert unknown_rows == [("unknown-address",)]


def test_throttling_after_repeated_failures(world: World) -> None:
    logins = world.rt.logins
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthError):
            logins.login("bob@example.test", "bad guess!")
    with pytest.raises(AuthError):
        logins.login("bob@example.test", PASSWORD)  # even the right password waits
    assert logins.history(world.users["bob"].account_id)[0].reason == "throttled"


def test_directory_validation(world: World) -> None:
    d = world.rt.directory
    with pytest.raises(Conflict):
        d.add_user("alice@example.test", PASSWORD)
    with pytest.raises(NotFound, match="not a local domain"):
        d.add_user("x@nowhere.test", PASSWORD)
    with pytest.raises(InvalidInput):
        d.add_user("not an address", PASSWORD)
    with pytest.raises(InvalidInput):
        d.add_user("short@example.test", "short")
    with pytest.raises(InvalidInput):
        d.add_domain("bad domain!")
    with pytest.raises(Conflict):
        d.add_domain("example.test")
    assert [u.address for u in d.users()] == [
        "alice@example.test",
        "bob@example.test",
        "carol@example.test",
    ]


def test_address_lockout_looks_the_same_for_unknown_addresses(world: World) -> None:
    from mailward.auth.logins import THROTTLED

    logins = world.rt.logins
    messages = {}
    for address in ("carol@example.test", "ghost@example.test"):
        for _ in range(MAX_FAILURES):
            with pytest.raises(AuthError):
                logins.login(address, "bad guess!", remote=f"198.51.100.{len(messages)}")
        with pytest.raises(AuthError) as exc:
            logins.login(address, PASSWORD, remote="198.51.100.99")
        messages[address] = str(exc.value)
    assert set(messages.values()) == {THROTTLED}  # no oracle for which account exists


def test_one_client_address_is_throttled_across_accounts(world: World) -> None:
    from mailward.auth.logins import MAX_REMOTE_FAILURES, THROTTLED

    logins = world.rt.logins
    for i in range(MAX_REMOTE_FAILURES):
        with pytest.raises(AuthError):
            logins.login(f"user{i}@example.test", "spray", remote="203.0.113.5")
    with pytest.raises(AuthError, match=THROTTLED):
        logins.login("alice@example.test", PASSWORD, remote="203.0.113.5")
    assert logins.login("alice@example.test", PASSWORD, remote="203.0.113.6")  # others pass
    events = logins.history(world.users["alice"].account_id)
    assert [e.reason for e in events[:2]] == ["ok", "throttled-remote"]
