"""Mailbox counts kept by triggers agree with counting the messages, through
delivery, flags, moves, delete, expunge and restore."""

from mailward.core.flags import Flags
from support import World


def check(world: World, name: str) -> None:
    account = world.users[name].account_id
    conn = world.rt.db.read()
    for box in world.door(name).mailboxes():
        total, unseen = conn.execute(
            "SELECT count(*), coalesce(sum(seen = 0), 0) FROM messages"
            " WHERE account_id = ? AND mailbox_id = ?",
            (account, box.id),
        ).fetchone()
        assert (box.total, box.unread) == (total, unseen), box.name


def test_counts_follow_every_change(world: World) -> None:
    ids = [world.deliver("alice", f"m{i}") for i in range(6)]
    check(world, "alice")
    door = world.door("alice")
    door.set_flags(ids[:2], add=Flags.parse("\\Seen"))
    check(world, "alice")
    door.create_mailbox("Keep")
    door.move(ids[1:3], "Keep")
    check(world, "alice")
    door.delete(ids[3:5])
    check(world, "alice")
    door.expunge_mailbox("Trash", only_deleted=False)
    check(world, "alice")
    door.restore(ids[3])
    door.set_flags([ids[2]], remove=Flags.parse("\\Seen"))
    check(world, "alice")
    inbox = next(b for b in door.mailboxes() if b.name == "INBOX")
    assert inbox.total == 2 and inbox.unread == 1  # m0 (seen), m5
    check(world, "bob")
