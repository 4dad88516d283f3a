"""The signed head: the last record's seq and hash, kept outside the database.

The head is HMAC-SHA256-signed with a key the database does not hold (a service
key wrapped by the master key), so deleting the tail of the log, or recomputing the
chain after editing it, is caught by comparing the log with its head.

File layout: two fixed-size slots written in turn with pwrite (no rename, cheap
enough to do after every commit). A write torn by a crash spoils at most one slot;
the reader takes the valid slot with the highest seq, which may lag the log but
never leads it.
"""

import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

SLOT_BYTES = 256


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: bytes
    at_us: int


class HeadError(Exception):
    """The head file is missing, malformed or not signed by our key."""


def _mac(key: bytes, seq: int, digest: bytes, at_us: int) -> str:
    msg = f"mailward-audit-head/v1|{seq}|{digest.hex()}|{at_us}".encode()
    return hmac.digest(key, msg, "sha256").hex()


def encode_slot(key: bytes, head: Head) -> bytes:
    """One slot: a JSON object padded to SLOT_BYTES (written after every commit, so
    formatted directly rather than through json.dumps)."""
    digest = head.hash.hex()
    mac = _mac(key, head.seq, head.hash, head.at_us)
    text = f'{{"seq":{head.seq},"hash":"{digest}","at_us":{head.at_us},"mac":"{mac}"}}'
    return text.encode().ljust(SLOT_BYTES - 1) + b"\n"


def write_head(fd: int, key: bytes, head: Head, *, sync: bool) -> None:
    """Write `head` into slot seq % 2 of the open head file; fsync when `sync`."""
    os.pwrite(fd, encode_slot(key, head), (head.seq % 2) * SLOT_BYTES)
    if sync:
        os.fsync(fd)


def _slot(key: bytes, data: bytes) -> Head | None:
    try:
        doc = json.loads(data)
        head = Head(int(doc["seq"]), bytes.fromhex(doc["hash"]), int(doc["at_us"]))
        mac = str(doc["mac"])
    except (ValueError, KeyError, TypeError):
        return None
    if not hmac.compare_digest(mac, _mac(key, head.seq, head.hash, head.at_us)):
        return None
    return head


def read_head(path: Path, key: bytes) -> Head:
    """The newest authentic slot of the head file.

    Raises:
        HeadError: missing, or no slot is well-formed and signed with `key`.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HeadError(f"signed head {path} is missing") from None
    slots = [_slot(key, data[i : i + SLOT_BYTES]) for i in range(0, len(data), SLOT_BYTES)]
    valid = [h for h in slots if h is not None]
    if not valid:
        raise HeadError(f"signed head {path} is malformed or has an invalid signature")
    return max(valid, key=lambda h: h.seq)
