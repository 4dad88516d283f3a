"""Sealing a new message for its owner, and opening rows for the principal served.

`open_summaries` (and `check_sealed`, for paths that hand out no list fields) is
where a cross-wired row is caught: the owner column is compared with the account
served, then the sealed list fields are opened with the served account's key and
owner-bound associated data, so even a row whose owner column lies (a wrong join)
fails authentication instead of decrypting.

A message's five list fields (subject, from, to, cc, snippet) are sealed together
as one value, part "summary": a page of 50 opens 50 values, not 250 (each opening
costs the AES-GCM set-up, and each value its own hex in the page's query).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from mailward.core.errors import IntegrityError
from mailward.core.flags import Flags
from mailward.core.ids import AccountId, MailboxId, MessageId
from mailward.core.mailbox import P_FOLDER
from mailward.core.message import MessageSummary
from mailward.crypto import NotOpened, Sealer
from mailward.mime import Summary
from mailward.store import MailboxRow, MessageRow, RowRef

# Part names bound into the associated data of each sealed value.
P_SUMMARY, P_RAW = "summary", "raw"
# Joins the five fields. NUL has no place in a header field (RFC 5322 §2.2; only
# the obsolete syntax of §4 admits it): one that holds it shows U+FFFD instead.
_SEP = "\x00"


def list_fields(subject: str, sender: str, to: str, cc: str, snippet: str) -> bytes:
    """The plaintext of a message's sealed list fields."""
    fields = (subject, sender, to, cc, snippet)
    text = _SEP.join(f.replace(_SEP, "\ufffd") for f in fields)
    return text.encode("utf-8", "surrogatepass")


def _fields(plain: bytes) -> list[str] | None:
    fields = plain.decode("utf-8", "surrogatepass").split(_SEP)
    return fields if len(fields) == 5 else None


def seal_fields(sealer: Sealer, item: MessageId, s: Summary) -> bytes:
    plain = list_fields(s.subject, s.sender, s.to, s.cc, s.snippet)
    return sealer.seal(item, P_SUMMARY, plain)


def reseal_fields(
    source: Sealer, item: MessageId, sealed: bytes, target: Sealer, new_item: MessageId
) -> bytes:
    """Open under (source, item) and seal under (target, new_item): copies get their own."""
    return target.seal(new_item, P_SUMMARY, source.open(item, P_SUMMARY, sealed))


@dataclass(frozen=True, slots=True)
class Crossing:
    """Why a row may not be handed to the principal."""

    owner: str
    item: str
    detail: str


def check_owner(row_owner: str, served: AccountId, item: str) -> Crossing | None:
    if row_owner != served:
        return Crossing(row_owner, item, "row belongs to another account")
    return None


def seal_folder(sealer: Sealer, mailbox_id: MailboxId, name: str) -> bytes:
    """A folder row's seal: its name sealed for (owner, folder id, "folder")."""
    return sealer.seal_text(mailbox_id, P_FOLDER, name)


# Folder rows whose seals were opened and matched, kept per process (`opened`
# below) up to this many: the same (account, id, name, seal) checks the same
# again. An inbox page checks every folder; opening 7 seals was 1.6 % of its
# instructions.
FOLDER_SEALS_KEPT = 20_000  # about 8 MB


def check_folders(
    sealer: Sealer,
    served: AccountId,
    rows: Sequence[MailboxRow],
    opened: set[tuple[str, str, str, bytes]] | None = None,
) -> Crossing | None:
    """The first folder row among `rows` that may not be shown to `served`: its
    owner column is another account's, or its seal does not open with `served`'s
    key (`sealer`) for its id, or opens to another name. A row of another account
    relabelled as `served`'s (a wrong join) fails the seal. `opened`: rows found
    good before, as (served, id, name, seal), and where the good ones are added;
    a row differing in any of these is opened."""
    for row in rows:
        if row.account_id != served:
            return Crossing(row.account_id, row.id, "mailbox of another account")
    if opened is not None:
        rows = [r for r in rows if (served, r.id, r.name, r.seal) not in opened]
    try:
        names = sealer.open_all(P_FOLDER, [(row.id, row.seal) for row in rows])
    except NotOpened as exc:
        return Crossing(served, exc.item, f"folder seal does not open: {exc}")
    for row, name in zip(rows, names, strict=True):
        if name != row.name.encode("utf-8", "surrogatepass"):
            return Crossing(served, row.id, "folder name does not match its seal")
    if opened is not None and rows:
        if len(opened) >= FOLDER_SEALS_KEPT:
            opened.clear()
        opened.update((served, r.id, r.name, r.seal) for r in rows)
    return None


def own_folder(sealer: Sealer, owner: AccountId, row: MailboxRow | None) -> MailboxRow | None:
    """`row` if it is `owner`'s (`check_folders`), else None: for a path that
    only names the folder (a grant's listing), which shows such a one as gone."""
    return row if row is not None and check_folders(sealer, owner, [row]) is None else None


def check_sealed(sealer: Sealer, served: AccountId, row: RowRef, sealed: bytes) -> Crossing | None:
    """The owner column, then the row's sealed list fields opened: `open_summary`'s
    checks for paths that hand out no list fields (IMAP and POP3 fetches). A row
    whose sealed fields are another account's fails here, not only when shown."""
    crossing = check_owner(row.account_id, served, row.id)
    if crossing is not None:
        return crossing
    try:
        sealer.open(row.id, P_SUMMARY, sealed)
    except IntegrityError as exc:
        return Crossing(row.account_id, row.id, f"sealed field does not open: {exc}")
    return None


def open_summary(
    sealer: Sealer, served: AccountId, row: MessageRow, mailbox_name: str
) -> MessageSummary | Crossing:
    """Open a row's sealed fields for `served`, or say why it must be refused."""
    opened = open_summaries(sealer, served, [row], lambda _box: mailbox_name)
    return opened if isinstance(opened, Crossing) else opened[0]


def open_summaries(
    sealer: Sealer,
    served: AccountId,
    rows: Sequence[MessageRow],
    mailbox_name: Callable[[MailboxId], str],
) -> list[MessageSummary] | Crossing:
    """Open the rows' sealed fields for `served`, a page in one pass (one call
    opens its 50 values: 6 % of an inbox page's instructions went to the calls
    per row). Or the crossing to refuse: a row whose owner column is not
    `served` if there is one, else the first whose sealed value does not open."""
    for row in rows:
        crossing = check_owner(row.account_id, served, row.id)
        if crossing is not None:
            return crossing
    try:
        plain = sealer.open_all(P_SUMMARY, [(row.id, row.sealed) for row in rows])
    except NotOpened as exc:
        # Every row's owner column is `served` here (checked above).
        return Crossing(served, exc.item, f"sealed field does not open: {exc}")
    out = []
    utc, moment, flags = UTC, datetime.fromtimestamp, Flags.parse
    # Positional, through tuple.__new__: a named tuple's own __new__ is a Python
    # function, called 50 times a page.
    new = tuple.__new__
    for row, value in zip(rows, plain, strict=True):
        fields = _fields(value)
        if fields is None:
            detail = f"sealed field does not open: sealed list fields of {row.id} are malformed"
            return Crossing(row.account_id, row.id, detail)
        subject, sender, to, cc, snippet = fields
        out.append(
            new(
                MessageSummary,
                (
                    served,
                    row.id,
                    row.mailbox_id,
                    mailbox_name(row.mailbox_id),
                    row.uid,
                    row.modseq,
                    moment(row.internal_us / 1e6, utc),
                    row.size,
                    flags(row.flags),
                    subject,
                    sender,
                    to,
                    cc,
                    snippet,
                    row.has_attachments,
                ),
            )
        )
    return out
