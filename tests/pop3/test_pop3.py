"""POP3 end to end: a real server on 127.0.0.1, poplib and raw-line clients, and a
second account (bob) that must see nothing of alice's mail."""

import base64
import poplib
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pop3_support import HOSTNAME, Server, address

from mailward.audit.query import all_records
from mailward.auth.logins import MAX_FAILURES
from mailward.pop3.protocol import MAX_LINE_BYTES
from mailward.pop3.session import MAX_AUTH_FAILURES, MAX_BAD_COMMANDS
from support import PASSWORD, World

AUTH_FAILED = "-ERR [AUTH] invalid user name or password"


def crlf(raw: bytes) -> bytes:
    """A message as POP3 carries it: every line end CRLF."""
    out = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return out if out.endswith(b"\r\n") else out + b"\r\n"


def inbox(world: World, name: str) -> list[str]:
    return [m.id for m in world.door(name).list_messages("INBOX", limit=500).items]


def trash(world: World, name: str) -> list[str]:
    return [m.id for m in world.door(name).list_messages("Trash", limit=500).items]


def records(world: World, **match: str) -> list:  # type: ignore[type-arg]
    return [
        r for r in all_records(world.rt.db) if all(getattr(r, k) == v for k, v in match.items())
    ]


def deliver_three(world: World) -> list[str]:
    return [world.deliver("alice", f"hello {i}", f"line one {i}\nline two {i}") for i in range(3)]


# -- greeting, CAPA, QUIT ------------------------------------------------------------------


def test_greeting_capa_and_quit(pop3: Server) -> None:
    c = pop3.client()
    assert c.getwelcome() == f"+OK {HOSTNAME} POP3 ready".encode()
    capa = c.capa()
    for name in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS"):
        assert name in capa
    assert capa["SASL"] == ["PLAIN"] and capa["IMPLEMENTATION"] == ["mailward"]
    assert c.quit().startswith(b"+OK")


def test_capa_after_login_offers_no_login_and_no_stls(pop3: Server) -> None:
    c = pop3.login("alice")
    capa = c.capa()
    assert {"TOP", "UIDL", "PIPELINING"} <= set(capa)
    assert not {"USER", "STLS", "SASL"} & set(capa)
    c.quit()


# -- the maildrop: STAT, LIST, UIDL, RETR, TOP ------------------------------------------------


def test_stat_list_uidl_in_uid_order(pop3: Server) -> None:
    ids = deliver_three(pop3.world)
    sizes = {e.id: e.size for e in pop3.world.door("alice").index("INBOX", 1, 2**32 - 1)}
    c = pop3.login("alice")
    assert c.stat() == (3, sum(sizes.values()))
    resp, lines, _ = c.list()
    assert resp.startswith(b"+OK 3 messages")
    assert lines == [f"{n} {sizes[i]}".encode() for n, i in enumerate(ids, 1)]
    assert c.list(2) == f"+OK 2 {sizes[ids[1]]}".encode()
    _, uidls, _ = c.uidl()
    assert uidls == [f"{n} {i}".encode() for n, i in enumerate(ids, 1)]
    assert c.uidl(3) == f"+OK 3 {ids[2]}".encode()
    c.quit()
    # The listing handed out no content: nothing was recorded as read.
    assert not records(pop3.world, protocol="pop3", action="read")


def test_retr_hands_out_the_raw_message_sets_seen_and_is_recorded(pop3: Server) -> None:
    ids = deliver_three(pop3.world)
    raw = pop3.world.door("alice").get_raw(ids[1]).data
    assert pop3.world.door("alice").get_summary(ids[1]).unread
    c = pop3.login("alice")
    resp, lines, _ = c.retr(2)
    assert resp.startswith(b"+OK")
    assert b"".join(line + b"\r\n" for line in lines) == crlf(raw)
    c.quit()
    assert not pop3.world.door("alice").get_summary(ids[1]).unread  # RETR: \Seen
    (read,) = records(pop3.world, protocol="pop3", action="read", part="raw")
    assert read.items == (ids[1],) and read.unread == "1" and read.detail == "pop3 RETR"
    assert read.actor_account == pop3.world.users["alice"].account_id
    assert read.owner_account == pop3.world.users["alice"].account_id


def test_retr_byte_stuffs_lines_that_begin_with_a_dot(pop3: Server) -> None:
    raw = b"From: a@b.test\r\nSubject: dots\r\n\r\n.\r\n..two\r\n.three\r\nlast\r\n"
    pop3.world.rt.system().deliver([address("alice")], raw)
    with pop3.wire() as w:
        w.login("alice")
        w.transact("+OK", "RETR 1")
        assert w.lines()[-4:] == ["..", "...two", "..three", "last"]  # stuffed on the wire
    c = pop3.login_when_free("alice")
    _, lines, _ = c.retr(1)
    assert lines[-4:] == [b".", b"..two", b".three", b"last"]  # and unstuffed by poplib
    c.quit()


def test_list_sizes_are_the_octets_retr_sends_also_for_mail_made_with_lf(pop3: Server) -> None:
    # A message written by a program or read from a Unix file ends its lines in LF;
    # stored with CRLF, LIST's size is what RETR sends (RFC 1939 §5, §7).
    lf = b"From: a@b.test\nSubject: unix lines\n\nfirst\nsecond\n"
    pop3.world.rt.system().deliver([address("alice")], lf)
    pop3.world.deliver("alice", "made with CRLF", "one\r\ntwo")
    c = pop3.login("alice")
    sizes = [int(line.split()[1]) for line in c.list()[1]]
    for n, size in enumerate(sizes, start=1):
        _, lines, _ = c.retr(n)
        sent = b"".join(line + b"\r\n" for line in lines)
        assert size == len(sent), (n, size, len(sent))
    assert sizes[0] == len(lf) + lf.count(b"\n")  # every LF became CRLF
    c.quit()


def test_top_hands_out_headers_and_lines_without_setting_seen(pop3: Server) -> None:
    ids = deliver_three(pop3.world)
    c = pop3.login("alice")
    _, head, _ = c.top(1, 0)
    assert b"Subject: hello 0" in head and head[-1] == b""
    assert not any(b"line one" in line for line in head)
    _, one, _ = c.top(1, 1)
    assert one[-1] == b"line one 0"
    c.quit()
    assert pop3.world.door("alice").get_summary(ids[0]).unread
    tops = records(pop3.world, protocol="pop3", action="read", detail="pop3 TOP")
    assert [(r.items, r.part) for r in tops] == [
        ((ids[0],), "headers"),
        ((ids[0],), "headers"),
        ((ids[0],), "body"),
    ]


def test_an_empty_maildrop(pop3: Server) -> None:
    c = pop3.login("alice")
    assert c.stat() == (0, 0)
    assert c.list()[1] == [] and c.uidl()[1] == []
    with pytest.raises(poplib.error_proto, match="no such message"):
        c.retr(1)
    c.quit()


def test_bob_sees_none_of_alices_mail(pop3: Server) -> None:
    ids = deliver_three(pop3.world)
    bobs = pop3.world.deliver("bob", "for bob")
    c = pop3.login("bob")
    assert c.stat()[0] == 1
    assert c.uidl()[1] == [f"1 {bobs}".encode()]
    _, lines, _ = c.retr(1)
    assert any(b"for bob" in line for line in lines)
    assert not any(b"hello" in line for line in lines)
    for n in (2, 3, 4):
        with pytest.raises(poplib.error_proto, match="no such message"):
            c.retr(n)
    c.quit()
    assert not records(pop3.world, actor_account=pop3.world.users["bob"].account_id,
                       owner_account=pop3.world.users["alice"].account_id)  # fmt: skip
    assert inbox(pop3.world, "alice") == ids[::-1]


# -- DELE, RSET, QUIT, and a dropped connection ------------------------------------------------


def test_dele_and_quit_move_to_trash(pop3: Server) -> None:
    ids = deliver_three(pop3.world)
    c = pop3.login("alice")
    assert c.dele(1).startswith(b"+OK")
    assert c.dele(3).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="already deleted"):
        c.dele(1)
    with pytest.raises(poplib.error_proto, match="no such message"):
        c.retr(1)  # RFC 1939 §7: a marked message is gone for this session
    with pytest.raises(poplib.error_proto, match="no such message"):
        c.list(3)
    assert c.stat()[0] == 1 and [x.split()[0] for x in c.list()[1]] == [b"2"]
    assert c.quit().startswith(b"+OK")
    assert inbox(pop3.world, "alice") == [ids[1]]
    assert sorted(trash(pop3.world, "alice")) == sorted([ids[0], ids[2]])  # not expunged
    moved = records(pop3.world, protocol="pop3", action="delete")
    assert sorted(i for r in moved for i in r.items) == sorted([ids[0], ids[2]])
    assert not records(pop3.world, action="expunge")


def test_dele_and_rset_change_nothing(pop3: Server) -> None:
    ids = deliver_three(pop3.world)
    c = pop3.login("alice")
    c.dele(1)
    c.dele(2)
    assert c.rset().startswith(b"+OK")
    assert c.stat()[0] == 3
    c.quit()
    assert sorted(inbox(pop3.world, "alice")) == sorted(ids) and not trash(pop3.world, "alice")


def test_dele_and_a_dropped_connection_change_nothing(pop3: Server) -> None:
    ids = deliver_three(pop3.world)
    with pop3.wire() as w:
        w.login("alice")
        w.transact("+OK", "DELE 1")
        w.transact("+OK", "DELE 2")
    # RFC 1939 §6: no QUIT, no UPDATE. The next session finds everything there.
    c = pop3.login_when_free("alice")
    assert c.stat()[0] == 3
    c.quit()
    assert sorted(inbox(pop3.world, "alice")) == sorted(ids) and not trash(pop3.world, "alice")


def test_the_maildrop_is_locked_to_one_session(pop3: Server) -> None:
    deliver_three(pop3.world)
    first = pop3.login("alice")
    second = pop3.client()
    second.user(address("alice"))
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_(PASSWORD)
    other = pop3.login("bob")  # another account is not held up
    other.quit()
    first.dele(1)
    first.quit()
    second.user(address("alice"))  # the same connection may try again
    assert second.pass_(PASSWORD).startswith(b"+OK maildrop has 2 messages")
    second.quit()


def test_noop_and_pipelined_commands(pop3: Server) -> None:
    deliver_three(pop3.world)
    with pop3.wire() as w:
        w.login("alice")
        w.send(b"NOOP\r\nSTAT\r\nLIST 2\r\nDELE 2\r\nSTAT\r\nRSET\r\nSTAT\r\nQUIT\r\n")
        replies = [w.line() for _ in range(8)]
        assert replies[0] == "+OK"
        assert replies[1].startswith("+OK 3 ") and replies[4].startswith("+OK 2 ")
        assert replies[2].startswith("+OK 2 ") and replies[6].startswith("+OK 3 ")
        assert replies[7].startswith("+OK") and w.closed()


# -- logging in --------------------------------------------------------------------------


def test_login_is_recorded_with_protocol_pop3(pop3: Server) -> None:
    c = pop3.login("alice")
    c.quit()
    (event, *_) = pop3.world.rt.logins.history(pop3.world.users["alice"].account_id)
    assert event.success and event.protocol == "pop3" and event.client == "pop3"
    assert event.remote == "127.0.0.1"


def test_wrong_password_and_unknown_user_get_the_same_reply(pop3: Server) -> None:
    answers = []
    for user, password in ((address("alice"), "wrong password"), (address("nobody"), PASSWORD)):
        with pop3.wire() as w:
            w.transact("+OK", f"USER {user}")
            answers.append(w.transact("-ERR", f"PASS {password}"))
    assert answers == [AUTH_FAILED, AUTH_FAILED]
    events = pop3.world.rt.services.store.recent_login_events(10)
    failed = [(e.address, e.protocol, e.reason) for e in events if not e.success]
    assert (address("alice"), "pop3", "bad-password") in failed
    assert (address("nobody"), "pop3", "unknown-address") in failed


def test_repeated_login_failures_close_the_session(pop3: Server) -> None:
    with pop3.wire() as w:
        for _ in range(MAX_AUTH_FAILURES):
            w.transact("+OK", f"USER {address('alice')}")
            assert w.transact("-ERR", "PASS nope") == AUTH_FAILED
        assert w.closed()


def test_a_throttled_address_is_refused_even_with_the_right_password(pop3: Server) -> None:
    failures = 0
    while failures < MAX_FAILURES:
        with pop3.wire() as w:
            for _ in range(min(MAX_AUTH_FAILURES, MAX_FAILURES - failures)):
                w.transact("+OK", f"USER {address('alice')}")
                w.transact("-ERR [AUTH] invalid", "PASS nope")
                failures += 1
    with pop3.wire() as w:
        w.transact("+OK", f"USER {address('alice')}")
        w.transact("-ERR [AUTH] too many failed sign-in attempts", f"PASS {PASSWORD}")
    with pop3.wire() as w:  # another account is not held up
        w.login("bob")


def test_pass_needs_user_and_login_needs_the_right_state(pop3: Server) -> None:
    with pop3.wire() as w:
        w.transact("-ERR USER first", f"PASS {PASSWORD}")
        w.transact("-ERR STAT: log in first", "STAT")
        w.login("alice")
        w.transact("-ERR USER: not allowed after login", "USER x")
        w.transact("-ERR STLS: not allowed after login", "STLS")


def test_sasl_plain(pop3: Server) -> None:
    token = base64.b64encode(f"\0{address('alice')}\0{PASSWORD}".encode()).decode()
    with pop3.wire() as w:
        w.transact("+OK maildrop has 0 messages", f"AUTH PLAIN {token}")
        w.transact("+OK", "QUIT")
    with pop3.wire() as w:
        w.transact("+ ", "AUTH PLAIN")
        w.transact("-ERR authentication cancelled", "*")
        w.transact("+ ", "AUTH PLAIN")
        bad = base64.b64encode(f"\0{address('alice')}\0wrong".encode()).decode()
        assert w.transact("-ERR", bad) == AUTH_FAILED
        w.transact("+ ", "AUTH PLAIN")
        w.transact("+OK", token)
        w.transact("+OK 0 0", "STAT")
    with pop3.wire() as w:
        w.transact("-ERR unsupported SASL mechanism", "AUTH LOGIN")


# -- TLS -------------------------------------------------------------------------------------


def test_passwords_are_refused_before_stls(pop3_tls: Server) -> None:
    c = pop3_tls.client()
    capa = c.capa()
    assert "STLS" in capa and "USER" not in capa and "SASL" not in capa
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\].*STLS first"):
        c.user(address("alice"))
    with pytest.raises(poplib.error_proto, match="STLS first"):
        c.pass_(PASSWORD)
    c.quit()
    with pop3_tls.wire() as w:
        w.transact("-ERR [AUTH] passwords are not taken", "AUTH PLAIN AGFAYgBj")
    events = pop3_tls.world.rt.services.store.recent_login_events(50)
    assert not [e for e in events if e.protocol == "pop3"]  # no password was even tried


def test_login_over_stls(pop3_tls: Server) -> None:
    ids = deliver_three(pop3_tls.world)
    c = pop3_tls.client()
    assert c.stls(context=pop3_tls.tls()).startswith(b"+OK")
    capa = c.capa()
    assert "USER" in capa and "STLS" not in capa
    with pytest.raises(poplib.error_proto, match="TLS session already established"):
        c.stls(context=pop3_tls.tls())  # (the server refuses too: see the next test)
    c.user(address("alice"))
    c.pass_(PASSWORD)
    assert c.uidl()[1] == [f"{n} {i}".encode() for n, i in enumerate(ids, 1)]
    _, lines, _ = c.retr(1)
    assert any(b"line one 0" in line for line in lines)
    c.quit()


def test_what_follows_stls_in_the_clear_is_thrown_away(pop3_tls: Server) -> None:
    with pop3_tls.wire() as w:
        # CVE-2011-0411: a man in the middle appends a command to STLS.
        w.send(b"STLS\r\nUSER " + address("alice").encode() + b"\r\n")
        assert w.line().startswith("+OK")
        w.starttls(pop3_tls.tls())
        w.transact("-ERR USER first", f"PASS {PASSWORD}")  # the USER did not count
        w.transact("-ERR TLS is already active", "STLS")
        w.login("alice")
        w.transact("+OK 0 0", "STAT")


# -- bad input -------------------------------------------------------------------------------


def test_malformed_input_gets_err_and_the_session_goes_on(pop3: Server) -> None:
    deliver_three(pop3.world)
    with pop3.wire() as w:
        w.transact("-ERR line too long", b"CAPA " + b"x" * (MAX_LINE_BYTES + 500))
        w.transact("-ERR", b"\x00\xff\xfe\x80garbage")
        w.transact("-ERR unknown command", "HELO there")
        w.transact("-ERR unknown command", "APOP alice 0123456789abcdef")
        w.transact("-ERR RETR: log in first", "RETR 1")
        w.login("alice")
        w.transact("-ERR no such message", "RETR 0")
        w.transact("-ERR no such message", "RETR 99999")
        w.transact("-ERR invalid number", "RETR abc")
        w.transact("-ERR invalid number", "TOP 1 -1")
        w.transact("-ERR wrong number of arguments", "RETR")
        w.transact("-ERR no such message", "DELE 4")
        w.transact("-ERR no such message", "UIDL 0")
        w.transact("-ERR PASS: not allowed after login", "PASS x")
        w.transact("+OK 3 ", "STAT")
        w.transact("+OK", "QUIT")
    with pop3.wire() as w:  # and the server answers a new connection
        assert w.greeting.startswith("+OK")


def test_too_many_bad_commands_close_the_session(pop3: Server) -> None:
    with pop3.wire() as w:
        for _ in range(MAX_BAD_COMMANDS - 1):
            w.transact("-ERR unknown command", "XYZZ")
        w.transact("-ERR unknown command", "XYZZ")
        assert w.line() == "-ERR too many bad commands; closing"
        assert w.closed()


def test_a_line_that_never_ends_closes_the_connection(pop3: Server) -> None:
    with pop3.wire() as w:
        try:
            w.send(b"x" * 300_000)
            rest = w.file.read()
        except ConnectionError:
            rest = b""  # closed with our bytes unread: a reset, which may come first
        assert rest in (b"", b"-ERR line too long\r\n")
    with pop3.wire() as w:
        assert w.greeting.startswith("+OK")


def test_an_idle_client_is_logged_out(pop3_with: Callable[..., Server]) -> None:
    server = pop3_with(idle_timeout_s=0.3)
    server.world.deliver("alice", "kept")
    with server.wire() as w:
        w.login("alice")
        w.transact("+OK", "DELE 1")
        time.sleep(0.6)
        assert w.line() == "-ERR idle for too long; closing"
        assert w.closed()
    c = server.login_when_free("alice")
    assert c.stat()[0] == 1  # RFC 1939 §3: autologout does not enter UPDATE
    c.quit()


# -- containment: the kill switch and the response guard ------------------------------------------


def test_the_kill_switch_refuses_new_and_open_sessions(pop3: Server) -> None:
    deliver_three(pop3.world)
    open_session = pop3.wire()
    open_session.login("alice")
    pop3.world.rt.switches.engage("pop3", "pytest", "drill")
    with pop3.wire() as w:
        assert w.greeting == "-ERR [SYS/TEMP] POP3 is stopped for maintenance; try again later"
        assert w.closed()
    open_session.transact("-ERR [SYS/TEMP] POP3 is stopped", "RETR 1")
    assert open_session.closed()
    open_session.close()
    assert not records(pop3.world, protocol="pop3", action="read")
    pop3.world.rt.switches.release("pop3")
    c = pop3.login_when_free("alice")
    assert c.stat()[0] == 3
    c.quit()


def test_a_guard_refusal_sends_nothing_of_the_message(pop3_with: Callable[..., Server]) -> None:
    seen: list[tuple[str, list[str]]] = []

    def check(principal: object, objects: list[object], part: str) -> bool:
        seen.append((part, [getattr(o, "owner", "") for o in objects]))
        return part != "raw"  # the listing may go, the message may not

    server = pop3_with(check=check)
    server.world.deliver("alice", "secret subject", "the secret body")
    with server.wire() as w:
        w.login("alice")
        w.transact("+OK 1 ", "STAT")
        w.send(b"RETR 1\r\n")
        rest = w.file.read()
    assert rest == b"-ERR [SYS/TEMP] service unavailable\r\n"  # and then the connection closed
    alice = server.world.users["alice"].account_id
    assert ("raw", [alice]) in seen and all(owners == [alice] for _, owners in seen if owners)
    c = server.login_when_free("alice")  # the refused session let go of the maildrop
    c.quit()


def test_a_server_survives_a_client_that_vanishes_mid_command(pop3: Server) -> None:
    deliver_three(pop3.world)
    for _ in range(5):
        sock = socket.create_connection(pop3.address, timeout=10)
        sock.sendall(f"USER {address('alice')}\r\nPASS {PASSWORD}\r\nRETR 1\r\n".encode())
        sock.close()
    c = pop3.login_when_free("alice")
    assert c.stat()[0] == 3
    c.quit()


def test_maildrop_lock_holds_across_processes(tmp_path: Path) -> None:
    """Two listeners (two worker processes) share the lock through the data dir."""
    import subprocess
    import sys

    from mailward.core.ids import AccountId
    from mailward.pop3.session import Maildrops

    mine = Maildrops(tmp_path / "locks")
    assert mine.take(AccountId("acct1"))
    code = (
        "import sys; from pathlib import Path; from mailward.pop3.session import Maildrops;"
        f" m = Maildrops(Path({str(tmp_path / 'locks')!r}));"
        " print(m.take('acct1'), m.take('acct2'))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.split() == ["False", "True"]
    mine.release(AccountId("acct1"))
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert again.stdout.split() == ["True", "True"]
