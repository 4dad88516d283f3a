"""IMAP transcripts for the extensions and the remaining RFC 3501 commands:
AUTHENTICATE PLAIN, ID, ENABLE, NAMESPACE, EXAMINE, UNSELECT, CLOSE, CHECK,
CONDSTORE, UIDPLUS (UID EXPUNGE), LITERAL+, LIST-EXTENDED, ESEARCH, search keys,
sections of multipart messages."""

import base64
import imaplib

import pytest
from imap_support import Server

from mailward.audit.query import all_records
from support import PASSWORD, make_message


def _ok(result: tuple[str, list[object]]) -> list[object]:
    typ, data = result
    assert typ == "OK", data
    return data


def _lines(data: list[object]) -> bytes:
    out = b""
    for d in data:
        if isinstance(d, tuple):
            out += b"".join(d)
        elif isinstance(d, bytes):
            out += d
    return out


def test_authenticate_plain_and_id_in_the_login_record(server: Server) -> None:
    c = server.client()
    typ, _ = c.xatom("ID", '("name" "TestClient" "version" "9.1")')
    assert typ == "OK"
    assert c.untagged_responses.pop("ID") == [b'("name" "mailward")']
    token = base64.b64encode(f"\0alice@example.test\0{PASSWORD}".encode()).decode()
    c.authenticate("PLAIN", lambda _challenge: base64.b64decode(token))
    assert c.state == "AUTH"
    c.logout()
    events = server.world.rt.logins.history(server.world.users["alice"].account_id)
    assert any(e.protocol == "imap" and e.success and "TestClient 9.1" in e.client for e in events)


def test_sasl_ir_and_cancel(server: Server) -> None:
    with server.wire() as w:
        token = base64.b64encode(f"\0alice@example.test\0{PASSWORD}".encode())
        assert w.say(b"a AUTHENTICATE PLAIN " + token)[-1].startswith(b"a OK")
    with server.wire() as w:
        w.send(b"a AUTHENTICATE PLAIN\r\n")
        assert w.line().startswith(b"+")
        w.send(b"*\r\n")
        assert w.line().startswith(b"a BAD")


def test_enable_namespace_examine_unselect_check(server: Server) -> None:
    server.world.deliver("alice", "One", "one")
    c = server.login()
    typ, data = c._simple_command("ENABLE", "CONDSTORE")
    assert typ == "OK"
    assert c.untagged_responses.pop("ENABLED") == [b"CONDSTORE"]
    assert _ok(c.namespace()) == [b'(("" "/")) NIL NIL']
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK" and c.untagged_responses.get("READ-ONLY") is not None
    typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO" and b"[READ-ONLY]" in data[0]  # type: ignore[operator]
    _ok(c.fetch("1", "(BODY[])"))  # EXAMINE: reading does not set \Seen
    assert b"\\Seen" not in _lines(_ok(c.fetch("1", "(FLAGS)")))
    _ok(c.check())
    typ, _ = c._simple_command("UNSELECT")
    assert typ == "OK" and c.state == "SELECTED"  # imaplib does not track UNSELECT
    with pytest.raises(imaplib.IMAP4.error, match="not allowed"):
        c.fetch("1", "(FLAGS)")
    c.logout()


def test_close_expunges_deleted_silently(server: Server) -> None:
    for i in range(3):
        server.world.deliver("alice", f"Close {i}", "x")
    c = server.login()
    c.select("INBOX")
    c.store("1:2", "+FLAGS.SILENT", "(\\Deleted)")
    _ok(c.close())
    assert _ok(c.select("INBOX")) == [b"1"]
    c.logout()


def test_condstore_modseq_changedsince_unchangedsince(server: Server) -> None:
    for i in range(3):
        server.world.deliver("alice", f"Mod {i}", "x")
    c = server.login()
    typ, _ = c._simple_command("SELECT", "INBOX", "(CONDSTORE)")
    assert typ == "OK"
    c.state = "SELECTED"  # imaplib's select() cannot send (CONDSTORE)
    highest = int(c.untagged_responses["HIGHESTMODSEQ"][-1])
    data = _lines(_ok(c.fetch("1:*", "(MODSEQ)")))
    assert data.count(b"MODSEQ (") == 3
    c.store("2", "+FLAGS", "(\\Flagged)")
    changed = _lines(_ok(c.fetch("1:*", f"(FLAGS) (CHANGEDSINCE {highest})")))
    assert changed.startswith(b"2 (FLAGS (\\Flagged) MODSEQ (") and changed.count(b"FETCH") == 0
    assert b"1 (" not in changed and b"3 (" not in changed
    typ, data = c._simple_command(
        "STORE", "1:3", f"(UNCHANGEDSINCE {highest})", "+FLAGS", "(\\Seen)"
    )
    assert typ == "OK" and b"[MODIFIED 2]" in data[-1]  # type: ignore[operator]
    c.untagged_responses.pop("FETCH", None)
    seen = _lines(_ok(c.fetch("1:3", "(FLAGS)")))
    assert seen.count(b"\\Seen") == 2
    assert _ok(c.search(None, "MODSEQ", str(highest + 1)))[0].startswith(b"1")  # type: ignore[union-attr]
    c.logout()


def test_uid_expunge_only_named_uids(server: Server) -> None:
    for i in range(3):
        server.world.deliver("alice", f"Uid {i}", "x")
    c = server.login()
    c.select("INBOX")
    c.store("1:3", "+FLAGS.SILENT", "(\\Deleted)")
    typ, _data = c.uid("EXPUNGE", "2")
    assert typ == "OK"
    assert c.untagged_responses.pop("EXPUNGE") == [b"2"]
    assert _ok(c.uid("SEARCH", "ALL")) == [b"1 3"]
    c.logout()


def test_literal_plus_append(server: Server) -> None:
    raw = make_message("Literal plus", "sent without waiting", to="alice@example.test")
    with server.wire() as w:
        w.login()
        reply = w.say(b"b APPEND INBOX {%d+}\r\n" % len(raw) + raw)[-1]
        assert reply.startswith(b"b OK [APPENDUID "), reply
    page = server.world.door("alice").list_messages("INBOX")
    assert [m.subject for m in page.items] == ["Literal plus"]


def test_list_extended_and_special_use(server: Server) -> None:
    c = server.login()
    _ok(c.create("Work"))
    _ok(c.create("Work/Plans"))
    _ok(c.subscribe("Work"))
    _ok(c.unsubscribe("Junk"))
    typ, data = c._simple_command(
        "LIST", "(SUBSCRIBED)", '""', "*", "RETURN", "(CHILDREN SPECIAL-USE)"
    )
    assert typ == "OK"
    listing = _lines(c.untagged_responses.pop("LIST"))
    assert b"Work" in listing and b"Junk" not in listing
    assert b"\\HasChildren \\Subscribed" in listing
    assert b"\\Sent" in listing
    data = _lines(_ok(c.list('""', "%")))
    assert b"Work/Plans" not in data and b"Work" in data
    data = _lines(_ok(c.list('""', "*")))
    assert b"Work/Plans" in data and b"\\HasNoChildren" in data
    assert _lines(_ok(c.list('""', '""'))) == b'(\\Noselect) "/" ""'
    c.logout()


def test_unicode_mailbox_names(server: Server) -> None:
    c = server.login()
    _ok(c.create("&ZeVnLIqe-"))  # 日本語 in modified UTF-7
    assert "日本語" in [b.name for b in server.world.door("alice").mailboxes()]
    assert b"&ZeVnLIqe-" in _lines(_ok(c.list('""', "*")))
    c.logout()


def test_esearch_and_search_keys(server: Server) -> None:
    w = server.world
    w.deliver("alice", "Invoice March", "pay now", sender="billing@shop.test")
    w.deliver("alice", "Hello", "hi there", sender="friend@else.test")
    w.deliver("alice", "Invoice April", "pay later", sender="billing@shop.test")
    c = server.login()
    c.select("INBOX")
    assert _ok(c.search(None, "FROM", "billing")) == [b"1 3"]
    assert _ok(c.search(None, "OR", "SUBJECT", "Hello", "BODY", "later")) == [b"2 3"]
    assert _ok(c.search(None, "HEADER", "From", "friend")) == [b"2"]
    assert _ok(c.search(None, "TEXT", "pay")) == [b"1 3"]
    assert _ok(c.search(None, "SINCE", "1-Jan-2000", "UNSEEN")) == [b"1 2 3"]
    assert _ok(c.search(None, "BEFORE", "1-Jan-2000")) == [b""]
    assert _ok(c.search(None, "2:*")) == [b"2 3"]
    typ, data = c._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT)", "FROM", "billing")
    assert typ == "OK"
    esearch = c.untagged_responses.pop("ESEARCH")[0]
    assert b"MIN 1" in esearch and b"MAX 3" in esearch and b"COUNT 2" in esearch
    assert _ok(c.search("UTF-8", "SUBJECT", "Invoice")) == [b"1 3"]
    typ, data = c._simple_command("SEARCH", "CHARSET", "KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[-1]  # type: ignore[operator]
    c.logout()
    matched = [r for r in all_records(server.world.rt.db) if r.detail == "imap SEARCH"]
    assert matched  # content searches record which items matched


def test_sections_of_a_multipart_message(server: Server) -> None:
    server.world.deliver("alice", "Parts", "the text part",
                         attachments=(("a.bin", b"first"), ("b.bin", b"second")))  # fmt: skip
    c = server.login()
    c.select("INBOX")
    text = _lines(_ok(c.fetch("1", "(BODY.PEEK[1])")))
    assert b"the text part" in text
    second = _lines(_ok(c.fetch("1", "(BODY.PEEK[3])")))
    assert base64.b64encode(b"second") in second
    mime = _lines(_ok(c.fetch("1", "(BODY.PEEK[2.MIME])")))
    assert b'filename="a.bin"' in mime
    structure = _lines(_ok(c.fetch("1", "(BODYSTRUCTURE BODY RFC822.SIZE)")))
    assert b'"MIXED"' in structure.upper() and b"RFC822.SIZE" in structure
    c.logout()
    parts = {r.part for r in all_records(server.world.rt.db) if r.protocol == "imap"}
    assert {"body", "attachment:2", "headers", "structure"} <= parts


def test_large_message_from_the_file_store(server: Server) -> None:
    """A message over the inline limit lives in the file store: fetched the same."""
    big = bytes(range(256)) * 1400  # 358,400 bytes
    server.world.deliver("alice", "Large", "see attachment", attachments=(("big.bin", big),))
    c = server.login()
    c.select("INBOX")
    data = _ok(c.fetch("1", "(RFC822.SIZE BODY.PEEK[2])"))
    part = data[0][1]  # type: ignore[index]
    assert base64.b64decode(part) == big
    c.logout()


def test_append_of_a_large_message(server: Server) -> None:
    """An APPEND's literal counts against the message size limit, not the line's."""
    big = make_message("Big append", "x" * 150_000, to="alice@example.test")
    c = server.login()
    typ, data = c.append("INBOX", None, None, big)
    assert typ == "OK" and b"APPENDUID" in data[0]  # type: ignore[operator]
    with server.wire() as w:
        w.login()
        assert w.say(b"b APPEND INBOX {%d+}\r\n" % len(big) + big)[-1].startswith(
            b"b OK [APPENDUID "
        )
    c.select("INBOX")
    assert _ok(c.search(None, "SUBJECT", '"Big append"')) == [b"1 2"]
    c.logout()


def test_commands_pipelined_after_starttls_are_not_run(server: Server) -> None:
    with server.wire() as w:
        w.send(b"a STARTTLS\r\nb CAPABILITY\r\n")
        replies = [w.line(), w.line()]
    assert replies[0].startswith(b"* BYE") and replies[1].startswith(b"a BAD")


def test_silent_store_with_condstore_and_trycreate(server: Server) -> None:
    server.world.deliver("alice", "One", "x")
    with server.wire() as w:
        say = w.say
        w.login()
        say(b"b SELECT INBOX (CONDSTORE)")
        store = say(b"c STORE 1 +FLAGS.SILENT (\\Flagged)")
        assert store[0].startswith(b"* 1 FETCH (UID 1 MODSEQ (")  # no stray space
        assert say(b"d COPY 1 Nowhere")[-1].startswith(b"d NO [TRYCREATE]")
        assert say(b"e APPEND Nowhere {1+}\r\nx")[-1].startswith(b"e NO [TRYCREATE]")


def test_create_makes_superiors_and_rename_keeps_selection(server: Server) -> None:
    server.world.deliver("alice", "Keep", "x")
    c = server.login()
    _ok(c.create("a/b/c"))
    names = [b.name for b in server.world.door("alice").mailboxes()]
    assert {"a", "a/b", "a/b/c"} <= set(names)
    assert b'"a"' in _lines(_ok(c.list('""', "%")))
    _ok(c.select("INBOX"))
    _ok(c.copy("1", "a"))
    _ok(c.select("a"))
    _ok(c.rename("a", "z"))
    assert _lines(_ok(c.fetch("1", "(UID)"))).startswith(b"1 (UID ")
    c.logout()


def test_authenticate_as_someone_else_is_refused(server: Server) -> None:
    with server.wire() as w:
        token = base64.b64encode(f"bob@example.test\0alice@example.test\0{PASSWORD}".encode())
        assert w.say(b"a AUTHENTICATE PLAIN " + token)[-1].startswith(b"a NO [AUTHORIZATIONFAILED]")


def test_seen_set_by_fetch_under_condstore(server: Server) -> None:
    """RFC 7162 §3.1: \\Seen set by a FETCH comes with UID and the new MODSEQ, once,
    and the next update does not repeat it."""
    server.world.deliver("alice", "Unread", "x")
    with server.wire() as w:
        w.login()
        w.say(b"b SELECT INBOX (CONDSTORE)")
        reply = b"".join(w.say(b"c FETCH 1 (BODY[TEXT])"))
        assert b"FLAGS (\\Seen) UID 1 MODSEQ (" in reply
        assert w.say(b"d NOOP") == [b"d OK NOOP done\r\n"]


def test_list_with_several_patterns_and_unknown_status_items(server: Server) -> None:
    c = server.login()
    typ, _ = c._simple_command("LIST", '""', '("INBOX" "Sent")')
    assert typ == "OK"
    listed = _lines(c.untagged_responses.pop("LIST"))
    assert b'"INBOX"' in listed and b'"Sent"' in listed and b"Trash" not in listed
    with pytest.raises(imaplib.IMAP4.error, match="unknown STATUS item SIZE"):
        c.status("INBOX", "(SIZE)")
    c.logout()


def test_create_at_the_folder_limit_answers_limit_and_an_existing_name_alreadyexists(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailward.access import changing

    have = len(server.world.door("alice").mailboxes())
    monkeypatch.setattr(changing, "MAX_MAILBOXES", have + 1)
    with server.wire() as w:
        w.login()
        assert w.say(b"a CREATE One")[-1].startswith(b"a OK")
        assert w.say(b"b CREATE Two")[-1].startswith(b"b NO [LIMIT]")  # RFC 5530
        assert w.say(b"c CREATE One")[-1].startswith(b"c NO [ALREADYEXISTS]")
        assert w.say(b"d RENAME INBOX Old")[-1].startswith(b"d NO [LIMIT]")
    names = {b.name for b in server.world.door("alice").mailboxes()}
    assert "One" in names and "Two" not in names and "Old" not in names
