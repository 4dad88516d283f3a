"""The signed head: the last record's seq and hash, kept outside the database.

The head is HMAC-SHA256-signed with a key the database does not hold (a service
key wrapped by the master key), so deleting the tail of the log, or recomputing the
chain after editing it, is caught by comparing the log with its head.
"""

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: bytes
    at_us: int


def _mac(key: bytes, seq: int, digest: bytes, at_us: int) -> str:
    msg = f"mailward-audit-head/v1|{seq}|{digest.hex()}|{at_us}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def write_head(path: Path, key: bytes, head: Head, *, sync: bool) -> None:
    """Replace the head file atomically; fsync it when `sync`."""
    doc = {
        "v": 1,
        "seq": head.seq,
        "hash": head.hash.hex(),
        "at_us": head.at_us,
        "mac": _mac(key, head.seq, head.hash, head.at_us),
    }
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(doc).encode())
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class HeadError(Exception):
    """The head file is missing, malformed or not signed by our key."""


def read_head(path: Path, key: bytes) -> Head:
    """Read and authenticate the head.

    Raises:
        HeadError: missing, malformed, or the signature does not match.
    """
    try:
        doc = json.loads(path.read_bytes())
        head = Head(int(doc["seq"]), bytes.fromhex(doc["hash"]), int(doc["at_us"]))
        mac = str(doc["mac"])
    except FileNotFoundError:
        raise HeadError(f"signed head {path} is missing") from None
    except (ValueError, KeyError, TypeError):
        raise HeadError(f"signed head {path} is malformed") from None
    if not hmac.compare_digest(mac, _mac(key, head.seq, head.hash, head.at_us)):
        raise HeadError(f"signed head {path} has an invalid signature")
    return head
