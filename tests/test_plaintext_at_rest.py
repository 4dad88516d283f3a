"""No subject, body, attachment or private header of any message appears in plaintext
anywhere in the data directory: database, WAL, blobs, head, keys."""

from pathlib import Path

from mailward.store.sqlite.blobs import INLINE_MAX_BYTES
from support import World, make_message

SECRETS = {
    "subject": "Zanzibar-Quokka-Subject-7781",
    "body": "Body-Marmalade-Xylophone-4410",
    "attachment": "Attachment-Contents-Pelican-9032",
    "filename": "Passport-Scan-Walrus-1234.pdf",
    "sender": "sender-heron-5521@elsewhere.test",
    "cc": "cc-lynx-7310@elsewhere.test",
    "snippet": "Marmalade-Xylophone",
}


def _all_bytes(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_no_plaintext_in_data_directory(world: World) -> None:
    """Small messages (sealed inline in SQLite) and large ones (sealed files) alike."""
    small = _secret_message(20)
    large = _secret_message(8000)  # > the inline limit: goes to the filesystem store
    assert len(large) > INLINE_MAX_BYTES > len(small)
    for raw in (small, large):
        _deliver_and_handle(world, raw)
    world.rt.close()  # flush everything; WAL stays on disk

    files = _all_bytes(world.rt.settings.data)
    assert any(p.name == "mailward.db-wal" or p.name == "mailward.db" for p, _ in files)
    assert len([p for p, _ in files if "blobs" in p.parts]) >= 2
    for label, secret in SECRETS.items():
        for encoded in {secret.encode(), secret.encode("utf-16-le"), secret.lower().encode()}:
            hits = [str(p) for p, data in files if encoded in data]
            assert not hits, f"{label} found in plaintext in {hits}"


def _secret_message(lines: int) -> bytes:
    return make_message(
        SECRETS["subject"],
        f"Dear user,\n{SECRETS['body']}\n" * lines,
        sender=SECRETS["sender"],
        to="alice@example.test",
        attachments=((SECRETS["filename"], SECRETS["attachment"].encode() * 10),),
    ).replace(b"To: alice@example.test", f"To: alice@example.test\nCc: {SECRETS['cc']}".encode())


def _deliver_and_handle(world: World, raw: bytes) -> None:
    for name in ("alice", "bob"):
        address = world.users[name].address
        world.rt.system().deliver([address], raw)
    alice = world.door("alice")
    item = alice.list_messages().items[0].id
    assert alice.get_summary(item).subject == SECRETS["subject"]
    assert SECRETS["cc"] in alice.get_summary(item).cc
    alice.get_message(item)
    alice.get_attachment(item, 1)
    alice.copy([item], "Archive")
    alice.expunge([item])  # tombstones too


def test_no_plaintext_of_submitted_and_queued_mail(world: World) -> None:
    """A submission writes a Sent copy, a local delivery and an outbound queue entry
    (message and envelope): none of them in plaintext."""
    foreign = "friend-okapi-6620@foreign.test"
    raw = make_message(
        SECRETS["subject"],
        f"{SECRETS['body']}\n",
        sender="alice@example.test",
        to=foreign,
        attachments=((SECRETS["filename"], SECRETS["attachment"].encode()),),
    )
    done = world.door("alice").submit("alice@example.test", ["bob@example.test", foreign], raw)
    assert done.queued is not None and done.delivered
    world.rt.close()
    files = _all_bytes(world.rt.settings.data)
    for label, secret in {**SECRETS, "foreign recipient": foreign}.items():
        if label in {"sender", "cc"}:
            continue  # not in this message
        hits = [str(p) for p, data in files if secret.encode() in data]
        assert not hits, f"{label} found in plaintext in {hits}"
