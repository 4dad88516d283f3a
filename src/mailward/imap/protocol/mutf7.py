"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3): "&" starts a base64 run of
UTF-16 (with "," for "/"), "-" ends it; "&-" is "&"."""

import base64

from mailward.imap.protocol.errors import ParseError


def encode_mailbox(name: str) -> bytes:
    out = bytearray()
    run: list[str] = []

    def flush() -> None:
        if run:
            packed = base64.b64encode("".join(run).encode("utf-16-be")).rstrip(b"=")
            out.extend(b"&" + packed.replace(b"/", b",") + b"-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            run.append(ch)
    flush()
    return bytes(out)


def decode_mailbox(raw: bytes) -> str:
    """Decode a mailbox name. 8-bit names are taken as UTF-8 (RFC 9051 §5.1,
    clients that ENABLE UTF8=ACCEPT or simply send it).

    Raises:
        ParseError: a malformed "&...-" run.
    """
    if not raw.isascii():
        return raw.decode("utf-8", "replace")
    if b"&" not in raw:
        return raw.decode("ascii")
    out: list[str] = []
    i = 0
    while i < len(raw):
        amp = raw.find(b"&", i)
        if amp < 0:
            out.append(raw[i:].decode("ascii"))
            break
        out.append(raw[i:amp].decode("ascii"))
        end = raw.find(b"-", amp)
        if end < 0:
            raise ParseError("unterminated &-sequence in a mailbox name")
        if end == amp + 1:
            out.append("&")
        else:
            chunk = raw[amp + 1 : end].replace(b",", b"/")
            try:
                data = base64.b64decode(chunk + b"=" * (-len(chunk) % 4), validate=True)
                out.append(data.decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                raise ParseError("bad modified UTF-7 in a mailbox name") from None
        i = end + 1
    return "".join(out)
