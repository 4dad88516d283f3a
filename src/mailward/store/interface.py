"""The MailStore contract every backend implements (SQLite now, PostgreSQL later).

Rules every implementation keeps:
- account_id comes first in every mail method and filters every query; the only
  owner-less reads are directory look-ups (`account_by_address`) and the
  maintenance sweep (`expired_tombstones`).
- sealed fields are stored and returned as ciphertext; a backend never opens them.
- writes inside `transaction()` commit together, durably, or not at all.
"""

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from mailward.core.ids import (
    AccountId,
    DomainId,
    GrantId,
    MailboxId,
    MessageId,
    QueueId,
    SessionId,
)
from mailward.db import Committed
from mailward.store.rows import (
    AccountRow,
    AppPasswordRow,
    FetchRow,
    GrantRow,
    IndexRow,
    LoginRow,
    MailboxRow,
    MessageRow,
    NewMessage,
    QueueRow,
    SessionRow,
    TombstoneRow,
)

T = TypeVar("T")


class MailStore(Protocol):
    def transaction(self) -> AbstractContextManager[None]:
        """Group the writes inside into one durable unit of work (nesting joins it)."""

    def atomically(self, fn: Callable[[], T]) -> T:
        """Run `fn` as one durable unit of work on the writer (nesting joins it).

        Cheaper than `transaction()` under concurrency: units from many callers
        share one commit.
        """

    def each_atomically(self, fns: Sequence[Callable[[], T]]) -> list[T | Exception]:
        """Run each of `fns` as its own unit of work, all sharing one commit: each
        one's result, or the exception it raised (only its writes undone), once
        durable. Raises for all if the commit fails."""

    def try_each_atomically(
        self, fns: Sequence[Callable[[], T]]
    ) -> Committed[list[T | Exception]] | None:
        """`each_atomically` on the calling thread without waiting: None, with
        nothing run, if the writer is busy; else the results, committed but
        handed out only after `settle()` (which blocks) says they are durable."""

    # directory
    def add_domain(self, domain_id: DomainId, name: str) -> None:
        """Raises: Conflict if the name exists."""

    def domains(self) -> list[tuple[DomainId, str, int]]: ...
    def domain_id(self, name: str) -> DomainId | None: ...
    def add_account(self, row: AccountRow) -> None:
        """Raises: Conflict if the address exists."""

    def account_by_address(self, address: str) -> AccountRow | None: ...
    def delivery_target(self, address: str) -> tuple[AccountRow, MailboxRow] | None:
        """The live (not disabled) account at `address` and its INBOX."""

    def account(self, account_id: AccountId) -> AccountRow | None: ...
    def accounts(self) -> list[AccountRow]: ...
    def set_password_hash(self, account_id: AccountId, password_hash: str) -> None: ...
    def add_login_event(self, row: LoginRow) -> int: ...
    def login_events(self, account_id: AccountId, limit: int = 100) -> list[LoginRow]: ...
    def recent_login_events(self, limit: int) -> list[LoginRow]:
        """The newest login events of every account (only the drills' faulty
        variant of the last-logon query uses it)."""

    def add_app_password(self, row: AppPasswordRow) -> None: ...
    def app_passwords(self, account_id: AccountId) -> list[AppPasswordRow]:
        """The account's live app passwords, oldest first."""

    def app_password_by_hash(self, digest: bytes) -> AppPasswordRow | None: ...
    def touch_app_password(self, account_id: AccountId, app_id: str, now_us: int) -> None: ...
    def revoke_app_password(self, account_id: AccountId, app_id: str, now_us: int) -> bool: ...
    def set_notice_address(self, account_id: AccountId, address: str | None) -> None: ...
    def notice_address(self, account_id: AccountId) -> str | None: ...
    def failed_logins(self, *, address: str = "", remote: str = "", since_us: int) -> int:
        """Failed attempts since `since_us` naming `address` (after its last
        success), or coming from `remote`: the throttles' counts."""

    # mailboxes
    def create_mailbox(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        name: str,
        special_use: str | None,
        seal: bytes,
    ) -> MailboxRow:
        """`seal`: the name sealed with the owner's key for (owner, id, "folder").
        Raises: Conflict if the account has a mailbox of that name."""

    def mailboxes(self, account_id: AccountId) -> list[MailboxRow]:
        """All mailboxes with total and unseen counts."""

    def mailbox(self, account_id: AccountId, mailbox_id: MailboxId) -> MailboxRow | None: ...
    def mailbox_by_name(self, account_id: AccountId, name: str) -> MailboxRow | None: ...
    def rename_mailbox(
        self, account_id: AccountId, mailbox_id: MailboxId, name: str, seal: bytes
    ) -> None:
        """`seal`: the new name sealed as `create_mailbox`'s."""

    def set_subscribed(self, account_id: AccountId, mailbox_id: MailboxId, on: bool) -> None:
        """RFC 9051 §6.3.7: whether the mailbox is in the subscription list."""

    def delete_mailbox(self, account_id: AccountId, mailbox_id: MailboxId) -> None:
        """Raises: Conflict if the mailbox still holds messages."""

    # messages
    def insert_message(self, account_id: AccountId, m: NewMessage) -> MessageRow:
        """Assign the next UID and a new MODSEQ (RFC 9051 §2.3.1.1, RFC 7162 §3.1)."""

    def message(self, account_id: AccountId, message_id: MessageId) -> MessageRow | None: ...
    def messages(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        limit: int,
        before: tuple[int, str] | None = None,
    ) -> list[MessageRow]:
        """Newest first by (internal date, id); `before` is the last (date, id) seen."""

    def mailbox_count(self, account_id: AccountId) -> int:
        """How many mailboxes the account has."""

    def page_bytes(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        limit: int,
        before: tuple[int, str] | None = None,
    ) -> int:
        """The size of the sealed list fields and flags of the page `messages`
        would return, found without reading them."""

    def messages_by_ids(
        self, account_id: AccountId, message_ids: list[MessageId]
    ) -> list[MessageRow]:
        """The account's messages among `message_ids`, in any order; ids that are
        not the account's (or not there) are left out."""

    def fetch_rows(self, account_id: AccountId, message_ids: list[MessageId]) -> list[FetchRow]:
        """As `messages_by_ids`, only what a fetch of parts needs of each row."""

    def unsealed_mailboxes(self, limit: int) -> list[tuple[AccountId, MailboxId, str]]:
        """Up to `limit` of the folder rows stored before migration 0014 and not
        yet sealed: owner, id, name (a row with no seal stored since is not one)."""

    def set_mailbox_seals(self, seals: list[tuple[AccountId, MailboxId, str, bytes]]) -> None:
        """Store each (owner, id, name, seal) of `unsealed_mailboxes` in one unit,
        where the row still has that name; those are then no longer unsealed."""

    def legacy_list_fields(self) -> int:
        """How many rows still have their list fields as five sealed values
        (stored before migration 0013)."""

    def legacy_rows(self, limit: int) -> list[tuple[str, AccountId, MessageId, list[bytes]]]:
        """Up to `limit` unconverted rows: table ("messages", "tombstones"), owner,
        id, and the sealed subject, from, to, cc and snippet."""

    def set_sealed_fields(
        self, converted: list[tuple[str, AccountId, MessageId, bytes, bool]]
    ) -> None:
        """Store each row's list fields sealed as one value, in one unit; the old
        values are dropped, or kept (flagged) where the last element is True."""

    def message_owner(self, message_id: MessageId) -> AccountId | None:
        """Whose message this id is (owner-less, and only for recording a refused
        attempt: the caller gets NotFound either way)."""

    def message_ids(self, account_id: AccountId, mailbox_id: MailboxId) -> list[MessageId]: ...
    def cached_parts(
        self, account_id: AccountId, message_ids: list[MessageId], parts: list[str]
    ) -> list[tuple[AccountId, MessageId, str, bytes]]:
        """(owner, id, part, sealed value) of each cached part of the account's
        messages among `message_ids` (migration 0012)."""

    def put_cached_parts(
        self, account_id: AccountId, entries: list[tuple[MessageId, str, bytes]]
    ) -> None:
        """Keep sealed parts (id, part, sealed) of the account's messages; ignored
        for a message that is no longer there."""

    def mailbox_uids(
        self, account_id: AccountId, mailbox_id: MailboxId, first_uid: int = 1
    ) -> list[int]:
        """Every UID from `first_uid` up in the mailbox, ascending (RFC 9051
        §2.3.1.2: the message sequence numbers are their positions)."""

    def first_unseen_uid(self, account_id: AccountId, mailbox_id: MailboxId) -> int | None:
        """The lowest UID without \\Seen in the mailbox, if any."""

    def index_rows(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        first_uid: int,
        last_uid: int,
        changed_since: int = 0,
        limit: int = -1,
    ) -> list[IndexRow]:
        """The messages with first_uid <= uid <= last_uid (and modseq > changed_since),
        ascending by UID; the first `limit` of them (all when negative)."""

    def set_flags(self, account_id: AccountId, message_id: MessageId, flags: str) -> MessageRow: ...
    def move_message(
        self,
        account_id: AccountId,
        message_id: MessageId,
        to_mailbox: MailboxId,
        origin: MailboxId | None,
    ) -> MessageRow:
        """New UID in the target; `origin` is remembered so a restore can go back."""

    def expunge_message(
        self, account_id: AccountId, message_id: MessageId, by: str, retention_us: int
    ) -> TombstoneRow: ...
    def tombstone(self, account_id: AccountId, message_id: MessageId) -> TombstoneRow | None: ...
    def restore_tombstone(
        self, account_id: AccountId, message_id: MessageId, to_mailbox: MailboxId
    ) -> MessageRow: ...
    def expired_tombstones(self, now_us: int) -> list[tuple[AccountId, MessageId]]: ...
    def drop_tombstone(self, account_id: AccountId, message_id: MessageId) -> None: ...

    # delegation
    def add_grant(self, account_id: AccountId, g: GrantRow) -> None: ...
    def grants(self, account_id: AccountId) -> list[GrantRow]: ...
    def grants_to(self, grantee_id: AccountId) -> list[GrantRow]: ...
    def revoke_grant(self, account_id: AccountId, grant_id: GrantId) -> None: ...

    # second factor (TOTP) and recovery codes
    def second_factor(self, account_id: AccountId) -> tuple[bytes, int | None, int] | None:
        """(sealed secret, confirmed_us, last_step), or None."""

    def set_second_factor(
        self, account_id: AccountId, secret: bytes, confirmed_us: int | None
    ) -> None: ...
    def use_time_step(self, account_id: AccountId, step: int) -> bool:
        """Record `step` as used; False if it (or a later one) was used already."""

    def drop_second_factor(self, account_id: AccountId) -> None: ...
    def set_recovery_codes(self, account_id: AccountId, hashes: list[bytes]) -> None: ...
    def use_recovery_code(self, account_id: AccountId, code_hash: bytes, at_us: int) -> bool: ...

    # sessions
    def add_session(self, row: SessionRow) -> None: ...
    def session_by_token_hash(self, token_hash: bytes) -> SessionRow | None:
        """The owner-less lookup a request starts from (its token names the row)."""

    def sessions(
        self,
        account_id: AccountId,
        *,
        seen_since_us: int = 0,
        limit: int = -1,
        first: SessionId | None = None,
    ) -> list[SessionRow]:
        """The account's sessions that are not revoked and were last used at or
        after `seen_since_us`: session `first` (if it is one), then the most
        recently used; at most `limit` (-1: all)."""

    def session_count(self, account_id: AccountId, *, seen_since_us: int = 0) -> int:
        """How many sessions `sessions` would return with no limit."""

    def touch_session(self, account_id: AccountId, session_id: SessionId, at_us: int) -> None: ...
    def revoke_session(self, account_id: AccountId, session_id: SessionId, at_us: int) -> bool:
        """Returns False if there was no live session of that account by that id."""

    # outbound queue
    def enqueue(self, row: QueueRow) -> None: ...
    def queued(self, account_id: AccountId, queue_id: QueueId) -> QueueRow | None: ...
    def due_queue(self, now_us: int, limit: int) -> list[QueueRow]:
        """Entries whose next attempt is at or before `now_us`, oldest first; the
        scheduler's owner-less sweep (each row names its owner)."""

    def all_queued(self) -> list[QueueRow]:
        """Every entry (the operator's `queue list`), oldest first."""

    def update_queued(
        self,
        account_id: AccountId,
        queue_id: QueueId,
        attempts: int,
        next_attempt_us: int,
        state: bytes,
    ) -> None: ...
    def reschedule_all(self, next_attempt_us: int) -> int:
        """Make every entry due at `next_attempt_us` (queue flush); returns the count."""

    def dequeue(self, account_id: AccountId, queue_id: QueueId) -> None: ...


class BlobStore(Protocol):
    def put(self, account_id: str, blob_id: str, data: bytes) -> None:
        """Store durably; returns only once the bytes survive a crash."""

    def joins_transaction(self, size_bytes: int) -> bool:
        """Whether a blob of this size is written inside the current write unit
        (commits with it). If not, put() writes it durably on its own at once:
        call it before the unit, so its fsyncs run outside the writer's turn."""

    def get(self, account_id: str, blob_id: str) -> bytes:
        """Raises: NotFound."""

    def get_many(self, account_id: str, blob_ids: list[str]) -> dict[str, bytes]:
        """Several at once (one query for those inside the database); a blob that
        is not there is left out."""

    def delete(self, account_id: str, blob_id: str) -> None: ...
    def exists(self, account_id: str, blob_id: str) -> bool: ...
