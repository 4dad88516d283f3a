"""The writer: the exact bytes it chains, records of several kinds in one append,
and a log that is off."""

import hashlib
import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mailward.audit import AuditRecord, encode_one, encode_record
from mailward.audit.query import all_records
from mailward.audit.record import chain_hash, encode, record_hash
from mailward.runtime import Runtime
from support import build_world


def _record(actor: str, owner: str, action: str, **kw: object) -> AuditRecord:
    fields: dict[str, object] = {
        "actor_account": actor,
        "actor_session": "s1",
        "protocol": "imap",
        "remote": "127.0.0.1",
        "owner_account": owner,
        "mailbox": "INBOX",
        "items": ("m1", "m2"),
        "unread": (True, False),
        "part": "list-entry",
        "action": action,
        "outcome": "allowed",
    }
    fields.update(kw)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def test_the_canonical_encoding_is_exactly_the_documented_bytes() -> None:
    # Written out by hand from record.py's description (version 2): a change of
    # encoding would otherwise pass every test yet break every existing log.
    prev = bytes(range(32))
    body = encode(
        7, 123, ["a", "s1", "imap", "127.0.0.1", "o", "INBOX"], "m1 m2", "10",
        ["list-entry", "list", "allowed", ""], prev,
    )  # fmt: skip
    expected = (
        b"2\x007\x00123\x00a\x00s1\x00imap\x00127.0.0.1\x00o\x00INBOX\x00m1 m2\x0010"
        b"\x00list-entry\x00list\x00allowed\x00\x00" + prev
    )
    assert body == expected


def test_one_append_of_mixed_records_chains_and_indexes_each(tmp_path: Path) -> None:
    w = build_world(tmp_path / "data")
    before = len(list(all_records(w.rt.db)))
    records = [
        _record("alice", "alice", "list"),  # own read: no others_owner
        _record("bob", "alice", "read", items=("m3",), unread=(True,)),
        _record("system", "alice", "deliver", items=("m4",), unread=(True,)),
        _record("carol", "alice", "flag", detail="nul\x00inside"),
    ]
    seqs = w.rt.services.audit.append_many(records)
    assert seqs == list(range(seqs[0], seqs[0] + 4))
    stored = list(all_records(w.rt.db))[before:]
    assert [r.seq for r in stored] == seqs
    assert [r.actor_account for r in stored] == ["alice", "bob", "system", "carol"]
    assert stored[3].detail == "nul\ufffdinside"
    conn = sqlite3.connect(w.rt.db.path)
    owners = conn.execute(
        "SELECT others_owner, typeof(body), typeof(hash) FROM audit_log WHERE pos >= ?"
        " ORDER BY pos",
        (seqs[0],),
    ).fetchall()
    conn.close()
    assert owners == [
        (None, "blob", "blob"),
        ("alice", "blob", "blob"),
        (None, "blob", "blob"),
        ("alice", "blob", "blob"),
    ]
    prev = stored[0].prev_hash
    for r in stored:  # each links to the one before and hashes its own body
        assert r.prev_hash == prev and hashlib.sha256(r.body).digest() == r.hash
        prev = r.hash
    assert w.rt.verify_audit().ok
    w.rt.close()


def test_with_the_log_off_mail_is_stored_and_nothing_is_recorded(tmp_path: Path) -> None:
    w = build_world(tmp_path / "data", audit=False)
    assert w.rt.services.audit.append_prepared(None) == 0
    w.deliver("alice", "kept without a record")
    (m,) = w.door("alice").list_messages().items
    assert m.subject == "kept without a record"
    assert list(all_records(w.rt.db)) == []
    w.rt.close()
    rt = Runtime.open(w.rt.settings)  # and the next start finds an empty, valid log
    assert rt.verify_audit().ok
    rt.close()


_field = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@given(
    actor=_field, session=_field, protocol=_field, remote=_field, owner=_field,
    mailbox=_field, item=_field, unread=st.booleans(), part=_field,
    action=st.sampled_from(["deliver", "append", "read"]),
)  # fmt: skip
def test_encode_one_gives_the_bytes_of_the_general_encoder(
    actor: str, session: str, protocol: str, remote: str, owner: str, mailbox: str,
    item: str, unread: bool, part: str, action: str,
) -> None:  # fmt: skip
    # The delivery path's encoder must chain exactly what encode_record would:
    # the same body, the same "someone else acted" owner, NUL replaced the same way.
    general = encode_record(
        AuditRecord(
            actor, session, protocol, remote, owner, mailbox, (item,), (unread,), part,
            action, "allowed",
        )
    )  # fmt: skip
    assert encode_one(
        actor, session, protocol, remote, owner, mailbox, item, unread, part, action
    ) == general  # fmt: skip


def test_encode_one_replaces_nul_as_the_general_encoder_does() -> None:
    fields, other = encode_one("a\x00b", "s", "smtp", "", "o", "IN\x00BOX", "m", True, "", "append")
    assert fields.startswith("a\ufffdb\x00s\x00smtp\x00\x00o\x00IN\ufffdBOX\x00m\x001".encode())
    assert other == "o"  # someone else appended to o's mailbox


@given(st.binary(max_size=600))
def test_the_writers_hash_is_sha256(body: bytes) -> None:
    assert chain_hash(bytearray(body)) == hashlib.sha256(body).digest() == record_hash(body)
