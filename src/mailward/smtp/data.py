"""Reading the DATA section in large pieces instead of line by line.

aiosmtpd reads DATA one line at a time (`readuntil(b"\\r\\n")` per line: 1,300
awaits for a 100 KB message). Here the stream is searched for ".\\r\\n" in chunks
as large as the socket delivers, and a match counts only at the start of a line
(RFC 5321 §4.1.1.4: the end is CRLF "." CRLF). Dot-unstuffing (§4.5.2), the
size limit and the line-length limit are applied to the whole, afterwards.
"""

import asyncio
from dataclasses import dataclass

END = b".\r\n"
# RFC 5321 §4.5.3.1.6: 1000 octets with CRLF; one more for a stuffed dot. Counted
# without the LF, so at most this many per line:
MAX_LINE_BYTES = 1000


@dataclass(frozen=True, slots=True)
class DataResult:
    """`content`: the message (unstuffed), or None with `problem` saying why."""

    content: bytes | None
    problem: str = ""  # "too-much" or "too-long"


async def read_data(reader: asyncio.StreamReader, max_bytes: int | None) -> DataResult:
    """Read up to the end of DATA. Raises asyncio.IncompleteReadError if the peer
    goes away first (nothing was stored)."""
    buf = bytearray()
    total = 0
    too_much = False
    while True:
        try:
            chunk = await reader.readuntil(END)
        except asyncio.LimitOverrunError as exc:
            # No end within the reader's limit: take what is safe to take.
            chunk = await reader.readexactly(max(exc.consumed, 1))
        total += len(chunk)
        buf += chunk
        if buf.endswith(END) and (total == len(END) or buf[-5:-3] == b"\r\n"):
            break
        if max_bytes is not None and total > max_bytes and not too_much:
            too_much = True  # keep reading to the end, keep nothing but the tail
        if too_much and len(buf) > 8:
            del buf[:-8]
    if too_much:
        return DataResult(None, "too-much")
    body = bytes(buf[: -len(END)]) if total > len(END) else b""
    if body and max(map(len, body.split(b"\n"))) > MAX_LINE_BYTES:
        return DataResult(None, "too-long")
    if body.startswith(b"."):
        body = body[1:]
    return DataResult(body.replace(b"\r\n.", b"\r\n"))
