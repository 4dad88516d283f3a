"""The vocabulary of the audit log: which part of an item, which action, which outcome."""

from enum import StrEnum


class Action(StrEnum):
    LIST = "list"
    READ = "read"
    DOWNLOAD = "download"
    FLAG = "flag"
    MOVE = "move"
    COPY = "copy"
    DELETE = "delete"
    EXPUNGE = "expunge"
    RESTORE = "restore"
    APPEND = "append"
    DELIVER = "deliver"
    GRANT = "grant"
    REVOKE = "revoke"
    QUEUE = "queue"  # a submitted message put in the outbound queue
    RELAY = "relay"  # a queued message handed to the smarthost


class Outcome(StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"


class Part(StrEnum):
    """Which part of an item was exposed. Attachments use `attachment(n)`."""

    LIST_ENTRY = "list-entry"
    SUBJECT = "subject"
    HEADERS = "headers"
    BODY = "body"
    RAW = "raw"
    FLAGS = "flags"
    STRUCTURE = "structure"  # MIME structure: types, sizes, attachment names (IMAP)
    ENVELOPE = "envelope"  # an outbound queue entry's sender and recipients
    LOGINS = "logins"  # an account's login history (account data, not mail)
    ATTACHMENT_NAMES = "attachment-names"  # only the names (an incident report's lookup)
    NONE = "-"


def attachment(n: int) -> str:
    """The part name of the n-th attachment (1-based), e.g. "attachment:2"."""
    if n < 1:
        raise ValueError("attachments are numbered from 1")
    return f"attachment:{n}"


def is_valid_part(part: str) -> bool:
    if part in Part.__members__.values():
        return True
    prefix, _, num = part.partition(":")
    return prefix == "attachment" and num.isdigit() and int(num) >= 1
