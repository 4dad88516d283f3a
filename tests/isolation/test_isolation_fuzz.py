"""Random interleavings of three principals with injected cross-wiring faults.

Properties: no principal ever receives another account's data; every crossing the
faults produce raises IsolationViolation and leaves a refused audit record; with no
fault armed, every principal sees exactly its own mail.
"""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from isolation.faults import FAULTS, Armed, FaultyBlobs, FaultyStore
from mailward.access import Pending, complete_together
from mailward.audit.query import all_records
from mailward.core.errors import Conflict, IsolationViolation, NotFound
from mailward.core.flags import Flags
from support import build_world

NAMES = ("alice", "bob", "carol")


def _together(pending: Pending[Any]) -> Any:
    (result,) = complete_together([pending])
    if isinstance(result, Exception):
        raise result
    return result


OPS = (
    "folders",
    "list",
    "list-deferred",
    "list-deferred-large",
    "list-together",
    "list-together-large",
    "read",
    "read-deferred",
    "read-deferred-large",
    "read-together",
    "raw",
    "summary",
    "headers",
    "attachment",
    "flag",
    "move",
    "copy",
    "delete",
    "restore",
    "expunge",
    "fetch",
)


def marker(name: str, n: int) -> str:
    return f"ZQ{name}{n}QZ"


def texts(result: Any) -> list[str]:
    """Every string a result carries, flattened."""
    if result is None or isinstance(result, (int, bool)):
        return []
    if isinstance(result, str):
        return [result]
    if isinstance(result, bytes):
        return [result.decode("utf-8", "replace")]
    if isinstance(result, (list, tuple)):
        return [t for item in result for t in texts(item)]
    if hasattr(result, "__dataclass_fields__"):
        return [t for f in result.__dataclass_fields__ for t in texts(getattr(result, f))]
    return [str(result)]


class Isolation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.world = build_world(self.tmp / "data", NAMES)
        services = self.world.rt.services
        self.store = FaultyStore(services.store)
        self.blobs = FaultyBlobs(services.blobs, services.store)
        services.store = self.store  # type: ignore[assignment]
        services.blobs = self.blobs  # type: ignore[assignment]
        self.ids: dict[str, set[str]] = {n: set() for n in NAMES}
        self.expunged: dict[str, set[str]] = {n: set() for n in NAMES}
        self.count = 0

    def teardown(self) -> None:
        self.world.rt.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def refused(self) -> int:
        return sum(1 for r in all_records(self.world.rt.db) if r.outcome == "refused")

    @rule(to=st.sampled_from(NAMES), attach=st.booleans())
    def deliver(self, to: str, attach: bool) -> None:
        self.count += 1
        m = marker(to, self.count)
        files = ((f"{m}.bin", m.encode()),) if attach else ()
        self.ids[to].add(self.world.deliver(to, f"subject {m}", f"body {m}", attachments=files))

    def _pick(self, who: str, data: st.DataObject) -> str:
        own = sorted(self.ids[who])
        others = sorted(i for n in NAMES if n != who for i in self.ids[n])
        pool = own + others + sorted(self.expunged[who]) or ["m" + "0" * 32]
        return str(data.draw(st.sampled_from(pool)))

    def _op(self, who: str, op: str, item: str) -> Callable[[], Any]:
        door = self.world.door(who)
        return {
            "folders": lambda: door.mailboxes(),
            "list": lambda: door.list_messages("INBOX"),
            # the web's two steps: opened at the call, or (too large) at completion
            "list-deferred": lambda: door.mailbox_view_deferred(
                "INBOX", open_up_to=1 << 30, folders_up_to=1000
            ).complete(),
            "list-deferred-large": lambda: door.mailbox_view_deferred(
                "INBOX", open_up_to=-1, folders_up_to=-1
            ).complete(),
            # the web's batches: completed with others (a crossing found at the
            # call completes alone, so that its refusal's record stays)
            "list-together": lambda: _together(
                door.mailbox_view_deferred("INBOX", open_up_to=1 << 30, folders_up_to=1000)
            ),
            "list-together-large": lambda: _together(
                door.mailbox_view_deferred("INBOX", open_up_to=-1, folders_up_to=-1)
            ),
            "read": lambda: door.get_message(item),
            # the web's message page: opened at the call, or (too large) at completion
            "read-deferred": lambda: door.message_view_deferred(
                item, open_up_to=1 << 30, folders_up_to=1000
            ).complete(),
            "read-deferred-large": lambda: door.message_view_deferred(
                item, open_up_to=-1, folders_up_to=-1
            ).complete(),
            "read-together": lambda: _together(
                door.message_view_deferred(item, open_up_to=1 << 30, folders_up_to=1000)
            ),
            "raw": lambda: door.get_raw(item),
            "summary": lambda: door.get_summary(item),
            "headers": lambda: door.get_headers(item),
            "attachment": lambda: door.get_attachment(item, 1),
            "flag": lambda: door.set_flags([item], add=Flags.of("\\Flagged")),
            "move": lambda: door.move([item], "Archive"),
            "copy": lambda: door.copy([item], "INBOX"),
            "delete": lambda: door.delete([item]),
            "restore": lambda: door.restore(item),
            "expunge": lambda: door.expunge([item]),
            # IMAP and POP3: the envelope (cached after the first time) and the body
            "fetch": lambda: door.fetch([item], ["ENVELOPE", "SECTION:"]),
        }[op]

    @rule(
        who=st.sampled_from(NAMES),
        victim=st.sampled_from(NAMES),
        fault=st.sampled_from((None, *FAULTS)),
        op=st.sampled_from(OPS),
        data=st.data(),
    )
    def access(
        self, who: str, victim: str, fault: str | None, op: str, data: st.DataObject
    ) -> None:
        item = self._pick(who, data)
        users = self.world.users
        armed = (
            Armed(fault, users[who].account_id, users[victim].account_id)
            if (fault and victim != who)
            else None
        )
        self.store.armed = self.blobs.armed = armed
        crossings = self.store.crossings + self.blobs.crossings
        refused = self.refused()
        result: Any = None
        violation = False
        try:
            result = self._op(who, op, item)()
        except IsolationViolation:
            violation = True
        except (NotFound, Conflict, LookupError):
            pass
        finally:
            self.store.armed = self.blobs.armed = None
        crossed = self.store.crossings + self.blobs.crossings > crossings
        assert violation == crossed, f"{op} under {fault}: crossed={crossed} violation={violation}"
        if violation:
            assert result is None
            assert self.refused() > refused
            return
        mine = users[who].account_id
        for obj in result if isinstance(result, list) else getattr(result, "items", [result]):
            if obj is not None and hasattr(obj, "owner"):
                assert obj.owner == mine
        leaked = [
            t
            for t in texts(result)
            for n in NAMES
            if n != who
            for k in range(1, self.count + 1)
            if marker(n, k) in t
        ]
        assert not leaked, f"{who} received {leaked}"
        self._track(who, op, item, result)

    def _track(self, who: str, op: str, item: str, result: Any) -> None:
        if op == "copy" and result:
            self.ids[who] |= {m.id for m in result}
        if op == "expunge" and result:
            self.ids[who].discard(item)
            self.expunged[who].add(item)
        if op == "restore" and result is not None:
            self.ids[who].add(item)
            self.expunged[who].discard(item)

    @invariant()
    def everyone_sees_exactly_their_own(self) -> None:
        for who in NAMES:
            door = self.world.door(who)
            seen = {
                m.id for box in door.mailboxes() for m in door.list_messages(box.name, 500).items
            }
            assert seen == self.ids[who]


TestIsolation = Isolation.TestCase


MESSAGE_OPS = tuple(op for op in OPS if op != "folders")  # what the row faults reach
CROSSING_OPS = {
    "foreign-row": MESSAGE_OPS,
    "wrong-join": MESSAGE_OPS,
    "field-swap": MESSAGE_OPS,
    "blob-swap": (
        "read",
        "read-deferred",
        "read-deferred-large",
        "read-together",
        "raw",
        "headers",
        "attachment",
        "copy",
        "fetch",
    ),
    # the operations that read the folder list: the web's message list, delete
    # (Trash is found in it), and the list itself
    "foreign-folder": (
        "list-deferred",
        "list-together",
        "read-deferred",
        "read-deferred-large",
        "read-together",
        "delete",
        "folders",
    ),
    # a wrong join on every folder lookup: whatever names or reads a folder
    "relabelled-folder": OPS,
}


@pytest.mark.parametrize(
    ("fault", "op"), [(f, op) for f, ops in CROSSING_OPS.items() for op in ops]
)
def test_each_fault_on_each_operation_is_refused_and_recorded(fault: str, op: str) -> None:
    """The table behind the fuzz test: every fault class against every operation."""
    machine = Isolation()
    try:
        machine.deliver("alice", attach=True)
        machine.deliver("bob", attach=True)
        item = next(iter(machine.ids["alice"]))
        users = machine.world.users
        armed = Armed(fault, users["alice"].account_id, users["bob"].account_id)
        machine.store.armed = machine.blobs.armed = armed
        refused = machine.refused()
        with pytest.raises(IsolationViolation):
            machine._op("alice", op, item)()
        machine.store.armed = machine.blobs.armed = None
        assert machine.store.crossings + machine.blobs.crossings >= 1
        records = [r for r in all_records(machine.world.rt.db) if r.outcome == "refused"]
        assert len(records) == refused + 1
        assert records[-1].actor_account == users["alice"].account_id
        machine.everyone_sees_exactly_their_own()
    finally:
        machine.teardown()


@pytest.mark.parametrize("fault", ["foreign-row", "wrong-join"])  # field-swap needs a row of ours
@pytest.mark.parametrize("op", ["fetch", "read", "raw", "summary", "headers", "flag", "move"])
def test_asking_for_the_victims_own_id_is_refused_and_recorded(fault: str, op: str) -> None:
    """As the table, with the asker naming the very message the fault hands over
    (the fuzz found it for fetch under a wrong join: the crossed row matched the
    id asked for and passed as ours, and the blob lookup, under the asker, said
    "not found" before the sealed fields were checked: no refusal, no record)."""
    machine = Isolation()
    try:
        machine.deliver("alice", attach=False)
        machine.deliver("bob", attach=False)
        users = machine.world.users
        item = next(iter(machine.ids["bob"]))  # the one the fault will return
        machine.store.armed = Armed(fault, users["alice"].account_id, users["bob"].account_id)
        refused = machine.refused()
        try:
            with pytest.raises(IsolationViolation):
                machine._op("alice", op, item)()
        finally:
            machine.store.armed = None
        assert machine.refused() == refused + 1
        machine.everyone_sees_exactly_their_own()
    finally:
        machine.teardown()


def test_a_rename_given_another_accounts_folders_renames_nothing() -> None:
    """Renaming reads the folder list to rename the folders below too: given
    another account's folders there, it is refused and recorded outside its unit
    (the record stays), and nothing is renamed."""
    machine = Isolation()
    try:
        users = machine.world.users
        door = machine.world.door("alice")
        door.create_mailbox("Projects")
        door.create_mailbox("Projects/2026")
        machine.store.armed = Armed(
            "foreign-folder", users["alice"].account_id, users["bob"].account_id
        )
        refused = machine.refused()
        try:
            with pytest.raises(IsolationViolation):
                door.rename_mailbox("Projects", "Old")
        finally:
            machine.store.armed = None
        assert machine.refused() == refused + 1
        names = {b.name for b in machine.world.door("alice").mailboxes()}
        assert {"Projects", "Projects/2026"} <= names and "Old" not in names
        machine.everyone_sees_exactly_their_own()
    finally:
        machine.teardown()


@pytest.mark.parametrize("fault", ["foreign-row", "wrong-join", "field-swap", "blob-swap"])
def test_the_two_step_message_page_records_a_crossing_at_completion(fault: str) -> None:
    """Its first step runs on the web's event loop: reads and CPU only. A crossing
    it finds is kept, and refused and recorded by the second step, even if the
    store answers rightly by then."""
    machine = Isolation()
    try:
        machine.deliver("alice", attach=False)
        machine.deliver("bob", attach=False)
        users = machine.world.users
        item = next(iter(machine.ids["alice"]))
        armed = Armed(fault, users["alice"].account_id, users["bob"].account_id)
        machine.store.armed = machine.blobs.armed = armed
        refused = machine.refused()
        try:
            pending = machine.world.door("alice").message_view_deferred(
                item, open_up_to=1 << 30, folders_up_to=1000
            )
        finally:
            machine.store.armed = machine.blobs.armed = None
        assert not pending.opened and machine.refused() == refused
        with pytest.raises(IsolationViolation):
            pending.complete()
        assert machine.refused() == refused + 1
        machine.everyone_sees_exactly_their_own()
    finally:
        machine.teardown()
