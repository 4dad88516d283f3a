"""IMAP transcripts with the standard library's imaplib against a real server.

Every test that reads mail has a second account (bob) whose mail must not show."""

import imaplib
import re
import socket
import time

import pytest
from imap_support import Server

from mailward.audit.query import all_records
from mailward.core.flags import Flags, SystemFlag
from support import make_message


def _ok(result: tuple[str, list[object]]) -> list[object]:
    typ, data = result
    assert typ == "OK", data
    return data


def _fill(server: Server, n: int = 3) -> list[str]:
    ids = [server.world.deliver("alice", f"Subject {i}", f"alice body {i}") for i in range(n)]
    server.world.deliver("bob", "Bob private", "bob secret body")
    return ids


def test_greeting_capability_and_logout(server: Server) -> None:
    c = server.client()
    caps = c.capabilities
    assert "IMAP4REV1" in caps and "STARTTLS" in caps and "IDLE" in caps
    assert "UIDPLUS" in caps and "MOVE" in caps and "CONDSTORE" in caps
    typ, _ = c.logout()
    assert typ == "BYE"


def test_login_select_fetch_flags_envelope(server: Server) -> None:
    _fill(server)
    c = server.login()
    data = _ok(c.select("INBOX"))
    assert data == [b"3"]
    assert c.untagged_responses.get("UIDVALIDITY")
    data = _ok(c.fetch("1:3", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)"))
    text = b"".join(d if isinstance(d, bytes) else b"".join(d) for d in data)
    for i in range(3):
        assert f"Subject {i}".encode() in text
    assert b"Bob private" not in text
    assert b"INTERNALDATE" in text and b"RFC822.SIZE" in text
    c.logout()


def test_body_fetch_sets_seen_and_peek_does_not(server: Server) -> None:
    _fill(server, 2)
    c = server.login()
    c.select("INBOX")
    data = _ok(c.fetch("1", "(BODY.PEEK[])"))
    assert b"alice body 0" in data[0][1]  # type: ignore[index]
    flags = _ok(c.fetch("1", "(FLAGS)"))
    assert b"\\Seen" not in flags[0]  # type: ignore[operator]
    data = _ok(c.fetch("1", "(BODY[TEXT])"))
    assert b"alice body 0" in data[0][1]  # type: ignore[index]
    flags = _ok(c.fetch("1", "(FLAGS)"))
    assert b"\\Seen" in flags[0]  # type: ignore[operator]
    c.logout()


def test_partial_header_fields_and_rfc822(server: Server) -> None:
    _fill(server, 1)
    c = server.login()
    c.select("INBOX")
    data = _ok(c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    assert data[0][1].strip() == b"Subject: Subject 0"  # type: ignore[index]
    data = _ok(c.fetch("1", "(BODY.PEEK[]<0.10>)"))
    assert len(data[0][1]) == 10  # type: ignore[index]
    assert b"<0>" in data[0][0]  # type: ignore[index]
    data = _ok(c.fetch("1", "(RFC822.HEADER)"))
    assert b"Subject: Subject 0" in data[0][1]  # type: ignore[index]
    data = _ok(c.fetch("1", "(BODYSTRUCTURE)"))
    assert b"BODYSTRUCTURE (" in data[0]  # type: ignore[operator]
    c.logout()


def test_part_level_audit_records(server: Server) -> None:
    ident = server.world.deliver(
        "alice", "With attachment", "text", attachments=(("c.pdf", b"%PDF-1 secret"),)
    )
    c = server.login()
    c.select("INBOX")
    _ok(c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    _ok(c.fetch("1", "(BODY.PEEK[2])"))
    _ok(c.fetch("1", "(BODY[])"))
    c.logout()
    rt = server.world.rt
    records = [r for r in all_records(rt.db) if ident in r.items]
    seen = {(r.protocol, r.part, r.action) for r in records}
    assert ("imap", "subject", "read") in seen
    assert ("imap", "attachment:1", "read") in seen
    assert ("imap", "raw", "read") in seen
    assert ("imap", "flags", "flag") in seen  # \Seen set by BODY[]
    flag = next(r for r in records if r.part == "flags" and r.action == "flag")
    assert flag.unread == "1"


def test_store_search_copy_move_expunge(server: Server) -> None:
    _fill(server, 4)
    c = server.login()
    c.select("INBOX")
    data = _ok(c.store("2", "+FLAGS", "(\\Flagged)"))
    assert b"\\Flagged" in data[0]  # type: ignore[operator]
    assert _ok(c.search(None, "FLAGGED")) == [b"2"]
    assert _ok(c.search(None, "SUBJECT", '"Subject 3"')) == [b"4"]
    assert _ok(c.search(None, "BODY", "alice")) == [b"1 2 3 4"]
    assert _ok(c.search(None, "BODY", "bob")) == [b""]
    assert _ok(c.search(None, "NOT", "FLAGGED", "LARGER", "10")) == [b"1 3 4"]
    assert _ok(c.uid("SEARCH", "UID", "1:2")) == [b"1 2"]
    _ok(c.uid("COPY", "1", "Archive"))
    _typ, code = c.response("COPYUID")  # the tagged OK's response code (RFC 4315)
    assert re.fullmatch(rb"\d+ 1 1", code[-1])  # type: ignore[arg-type]
    _ok(c.uid("MOVE", "3", "Archive"))
    assert c.untagged_responses.pop("EXPUNGE") == [b"3"]
    c.store("1", "+FLAGS", "(\\Deleted)")
    assert _ok(c.expunge()) == [b"1"]
    assert _ok(c.select("INBOX")) == [b"2"]
    assert _ok(c.select("Archive")) == [b"2"]
    c.logout()
    bob = server.login("bob")
    assert _ok(bob.select("INBOX")) == [b"1"]
    bob.logout()


def test_append_list_status_create_rename_delete(server: Server) -> None:
    c = server.login()
    raw = make_message("Appended", "appended body", to="alice@example.test")
    typ, data = c.append("Drafts", "(\\Draft)", None, raw)
    assert typ == "OK" and b"APPENDUID" in data[0]  # type: ignore[operator]
    data = _ok(c.list())
    names = b"\n".join(d for d in data if isinstance(d, bytes))
    assert b"INBOX" in names and b"\\Sent" in names and b"\\Trash" in names
    _ok(c.create("Projects/2026"))
    _ok(c.rename("Projects/2026", "Projects/Done"))
    data = _ok(c.list('""', "Projects/%"))
    assert b"Projects/Done" in data[0]  # type: ignore[operator]
    _ok(c.delete("Projects/Done"))
    data = _ok(c.status("Drafts", "(MESSAGES UIDNEXT UNSEEN)"))
    assert b"MESSAGES 1" in data[0]  # type: ignore[operator]
    _ok(c.subscribe("Archive"))
    _ok(c.unsubscribe("Archive"))
    data = _ok(c.lsub())
    assert not any(b"Archive" in d for d in data if isinstance(d, bytes))
    assert c.select("Nope")[0] == "NO"
    c.logout()


def test_two_sessions_see_each_others_changes(server: Server) -> None:
    _fill(server, 2)
    a = server.login()
    b = server.login()
    a.select("INBOX")
    b.select("INBOX")
    a.store("1", "+FLAGS", "(\\Flagged)")
    typ, _ = b.noop()
    assert typ == "OK"
    fetches = b.untagged_responses.get("FETCH", [])
    assert any(b"\\Flagged" in f for f in fetches if isinstance(f, bytes))
    server.world.deliver("alice", "Arrived later", "new")
    b.noop()
    assert b.untagged_responses.get("EXISTS", [])[-1] == b"3"
    a.store("2", "+FLAGS", "(\\Deleted)")
    a.expunge()
    b.noop()
    assert b"2" in b.untagged_responses.get("EXPUNGE", [])
    a.logout()
    b.logout()


def test_idle_reports_new_mail(server: Server) -> None:
    _fill(server, 1)
    c = server.login()
    c.select("INBOX")
    tag = c._new_tag().decode()
    c.send(f"{tag} IDLE\r\n".encode())
    assert c.readline().startswith(b"+")
    server.world.deliver("alice", "During idle", "x")
    deadline = time.monotonic() + 5
    line = b""
    while time.monotonic() < deadline:
        line = c.readline()
        if b"EXISTS" in line:
            break
    assert line.strip() == b"* 2 EXISTS"
    c.send(b"DONE\r\n")
    assert c.readline().startswith(tag.encode() + b" OK")
    c.logout()


def test_login_failures_recorded_and_identical(server: Server) -> None:
    c = server.client()
    with pytest.raises(imaplib.IMAP4.error) as wrong:
        c.login("alice@example.test", "wrong")
    with pytest.raises(imaplib.IMAP4.error) as unknown:
        c.login("nobody@example.test", "wrong")
    c.logout()
    assert str(wrong.value) == str(unknown.value)
    rt = server.world.rt
    events = rt.logins.history(server.world.users["alice"].account_id)
    assert any(e.protocol == "imap" and not e.success for e in events)


def test_starttls_then_login(tmp_path_factory: pytest.TempPathFactory) -> None:
    from imap_support import start_server

    from support import build_world

    world = build_world(tmp_path_factory.mktemp("tls"))  # no plaintext login
    s = start_server(world)
    try:
        c = s.client()
        assert "LOGINDISABLED" in c.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="STARTTLS"):
            c.login("alice@example.test", "correct horse battery")
        c.shutdown()
        c = s.tls_client()
        _ok(c.login("alice@example.test", "correct horse battery"))
        c.logout()
    finally:
        s.stop()
        world.rt.close()


def _raw(server: Server, lines: list[bytes]) -> list[bytes]:
    """Send raw lines on a fresh logged-in connection; return every reply line."""
    sock = socket.create_connection(server.address, timeout=5)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b'a LOGIN alice@example.test "correct horse battery"\r\n')
    while not f.readline().startswith(b"a "):
        pass
    replies = []
    for n, line in enumerate(lines):
        sock.sendall(line)
        tag = f"t{n}".encode()
        while True:
            reply = f.readline()
            replies.append(reply)
            if not reply or reply.startswith(tag + b" ") or reply.startswith(b"* BYE"):
                break
    f.close()
    sock.close()
    return replies


def test_malformed_input_answered_and_server_lives(server: Server) -> None:
    replies = _raw(
        server,
        [
            b"t0 FETCH (\r\n",
            b"t1 SELECT\r\n",
            b"t2 BLAH\r\n",
            b"t3 FETCH 1 (FLAGS)\r\n",  # wrong state: nothing selected
            b't4 SELECT "unterminated\r\n',
            b"t5 APPEND INBOX {999999999}\r\n",
            b"t6 SEARCH ((((\r\n",
            b"t7 " + b"X" * 70_000 + b"\r\n",
            b't8 LIST "" *\r\n',
        ],
    )
    tagged = [r for r in replies if re.match(rb"t\d ", r)]
    statuses = [r.split()[1] for r in tagged]
    assert statuses[:7] == [b"BAD", b"BAD", b"BAD", b"BAD", b"BAD", b"NO", b"BAD"]
    assert statuses[-1] == b"OK"
    c = server.login()
    assert _ok(c.select("INBOX"))
    c.logout()


def test_sequence_numbers_out_of_range(server: Server) -> None:
    _fill(server, 2)
    c = server.login()
    c.select("INBOX")
    with pytest.raises(imaplib.IMAP4.error, match="no message 5"):
        c.fetch("5", "(FLAGS)")
    assert _ok(c.uid("FETCH", "99", "(FLAGS)")) == [None]
    c.logout()


def test_killswitch_refuses(server: Server) -> None:
    rt = server.world.rt
    rt.switches.engage("imap", by="test", reason="drill")
    try:
        with socket.create_connection(server.address, timeout=5) as sock, sock.makefile("rb") as f:
            assert f.readline().startswith(b"* BYE [UNAVAILABLE]")
    finally:
        rt.switches.release("imap")
    c = server.login()
    c.logout()


def test_guard_refusal_sends_nothing(world: object) -> None:
    from imap_support import start_server

    from support import World

    assert isinstance(world, World)
    world.deliver("alice", "Guarded subject", "guarded body")
    backend = world.rt.imap_backend()
    backend.check = lambda principal, objects, part: part == "-" or part == "list-entry"
    s = start_server(world, backend)
    try:
        c = s.login()
        c.select("INBOX")
        with pytest.raises(imaplib.IMAP4.abort):
            c.fetch("1", "(BODY.PEEK[])")
        c.shutdown()
    finally:
        s.stop()


def test_select_names_the_first_unseen_message(server: Server) -> None:
    ids = _fill(server, 4)
    server.world.door("alice").set_flags(ids[:2], add=Flags.of(SystemFlag.SEEN))
    c = server.login()
    _ok(c.select("INBOX"))
    assert c.untagged_responses.get("UNSEEN") == [b"3"]  # RFC 3501 §6.3.1
    c.store("3:4", "+FLAGS", "(\\Seen)")
    c.close()
    _ok(c.select("INBOX"))
    assert "UNSEEN" not in c.untagged_responses  # nothing unseen: no UNSEEN code
    c.logout()


def test_rename_takes_inferiors_along_and_rename_inbox_moves_its_mail(server: Server) -> None:
    ids = _fill(server, 2)
    c = server.login()
    _ok(c.create("Work/2026/Q1"))
    _ok(c.rename("Work", "Jobs"))  # RFC 3501 §6.3.5: inferiors are renamed too
    names = b"\n".join(d for d in _ok(c.list('""', "*")) if isinstance(d, bytes))
    assert b'"Jobs/2026/Q1"' in names or b"Jobs/2026/Q1" in names
    assert b"Work" not in names
    assert c.rename("Jobs/2026", "Jobs/2026/Inside")[0] == "NO"  # not below itself
    _ok(c.rename("INBOX", '"Old mail"'))  # moves every message, INBOX stays, empty
    assert _ok(c.select("INBOX")) == [b"0"]
    assert _ok(c.select('"Old mail"')) == [b"2"]
    door = server.world.door("alice")
    assert {m.id for m in door.list_messages("Old mail").items} == set(ids)
    c.logout()


def test_delete_of_a_folder_with_mail_puts_the_mail_in_trash(server: Server) -> None:
    ids = _fill(server, 3)
    c = server.login()
    _ok(c.create("Keep"))
    _ok(c.create("Keep/Child"))
    _ok(c.select("INBOX"))
    _ok(c.copy("1:2", "Keep"))
    _ok(c.unselect() if hasattr(c, "unselect") else c.close())
    _ok(c.delete("Keep"))  # not empty: allowed, its messages are not lost
    door = server.world.door("alice")
    trash = door.list_messages("Trash").items
    assert len(trash) == 2 and {m.subject for m in trash} == {"Subject 0", "Subject 1"}
    listing = _ok(c.list('""', "%"))
    # The child stays (RFC 3501 §6.3.4); its parent level is listed as \Noselect.
    assert any(b"\\Noselect" in d and b"Keep" in d for d in listing if isinstance(d, bytes))
    assert any(b"Keep/Child" in d for d in _ok(c.list('""', "*")) if isinstance(d, bytes))
    restored = [door.restore(m.id) for m in trash]
    assert {m.mailbox for m in restored} == {"INBOX"}  # its folder is gone: INBOX
    assert len(ids) == 3
    c.logout()


def test_a_session_whose_mailbox_is_deleted_elsewhere_is_told_and_closed(server: Server) -> None:
    _fill(server, 1)
    a, b = server.login(), server.login()
    _ok(a.create("Shared"))
    _ok(a.select("Shared"))
    _ok(b.delete("Shared"))
    # imaplib raises on an untagged BYE before the tagged reply (not after LOGOUT).
    with pytest.raises(imaplib.IMAP4.abort, match="deleted or renamed"):
        a.noop()
    a.shutdown()
    b.logout()


def test_lsub_percent_shows_an_unsubscribed_parent_as_noselect(server: Server) -> None:
    c = server.login()
    _ok(c.create("Lists/Announce"))
    _ok(c.unsubscribe("Lists"))  # new mailboxes start subscribed
    _ok(c.subscribe("Lists/Announce"))
    lines = [d for d in _ok(c.lsub('""', "%")) if isinstance(d, bytes)]
    (parent,) = [d for d in lines if b"Lists" in d]
    assert b"\\Noselect" in parent and b"Announce" not in parent  # RFC 3501 §6.3.9
    below = [d for d in _ok(c.lsub('""', "Lists/%")) if isinstance(d, bytes)]
    assert any(b"Lists/Announce" in d and b"\\Noselect" not in d for d in below)
    c.logout()


def test_a_mailbox_replaced_under_the_selected_name_ends_the_session(server: Server) -> None:
    a, b = server.login(), server.login()
    _ok(a.create("Shared"))
    _ok(b.create("Other"))
    _ok(a.select("Shared"))
    _ok(b.rename("Shared", "Moved"))
    _ok(b.rename("Other", "Shared"))  # same name, another mailbox (another UIDVALIDITY)
    with pytest.raises(imaplib.IMAP4.abort, match="deleted or renamed"):
        a.noop()
    a.shutdown()
    b.logout()


def test_rename_checks_the_new_names_of_inferiors_and_changes_nothing_if_one_is_bad(
    server: Server,
) -> None:
    c = server.login()
    _ok(c.create("A/" + "b" * 200))
    typ, _ = c.rename("A", "C" * 100)  # "CCC.../bbb..." would be over 255 characters
    assert typ == "NO"
    names = b"\n".join(d for d in _ok(c.list('""', "*")) if isinstance(d, bytes))
    assert b"A/bbb" in names and b"CCC" not in names
    c.logout()


def test_rename_inbox_and_delete_move_large_mailboxes_in_chunks(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailward.access import changing

    monkeypatch.setattr(changing, "MOVE_CHUNK", 3)
    ids = _fill(server, 7)
    c = server.login()
    _ok(c.rename("INBOX", "Everything"))
    door = server.world.door("alice")
    assert {m.id for m in door.list_messages("Everything").items} == set(ids)
    assert door.list_messages("INBOX").items == []
    _ok(c.delete("Everything"))
    assert {m.id for m in door.list_messages("Trash").items} == set(ids)
    moves = [r for r in all_records(server.world.rt.db) if r.action in ("move", "delete")]
    assert sorted(i for r in moves if r.action == "move" for i in r.items) == sorted(ids)
    assert sorted(i for r in moves if r.action == "delete" for i in r.items) == sorted(ids)
    c.logout()


def test_fetch_and_store_carry_the_updates_of_other_sessions(server: Server) -> None:
    """FETCH and STORE read the mailbox for their closing updates in the same trip
    as their own door call: EXISTS and other sessions' flag changes still come,
    a session's own \\Seen from a FETCH is not told twice, and a mailbox deleted
    elsewhere still ends the session."""
    _fill(server, 2)
    a, b = server.login(), server.login()
    _ok(a.select("INBOX"))
    _ok(b.select("INBOX"))
    server.world.deliver("alice", "Arrived during", "new")
    a.untagged_responses.clear()
    _ok(a.fetch("1", "(BODY.PEEK[])"))
    assert a.untagged_responses.get("EXISTS", [])[-1] == b"3"
    _ok(b.store("2", "+FLAGS", "(\\Flagged)"))
    got = [d for d in _ok(a.store("1", "+FLAGS", "(\\Answered)")) if isinstance(d, bytes)]
    assert any(d.startswith(b"2 (") and b"\\Flagged" in d for d in got), got
    assert any(d.startswith(b"1 (") and b"\\Answered" in d for d in got), got
    lines = _ok(a.fetch("3", "(BODY[])"))  # not PEEK: sets \Seen, told in this reply
    told = [d for d in lines if isinstance(d, (bytes, tuple))]
    heads = [d[0] if isinstance(d, tuple) else d for d in told]
    assert len([h for h in heads if h.startswith(b"3 (")]) == 1, heads
    assert b"\\Seen" in b" ".join(h for h in heads if isinstance(h, bytes))
    a.untagged_responses.clear()
    _ok(a.noop())
    assert not a.untagged_responses.get("FETCH")  # nothing left to tell
    _ok(a.create("Shared"))
    _ok(a.append("Shared", "", imaplib.Time2Internaldate(time.time()), make_message("s", "b")))
    _ok(a.select("Shared"))
    _ok(b.delete("Shared"))
    with pytest.raises(imaplib.IMAP4.abort, match="deleted or renamed"):
        a.fetch("1", "(BODY[])")
    a.shutdown()
    b.logout()
