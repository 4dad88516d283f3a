"""What a message body must not hold before it is stored, and the line-end repair
every mail server does."""

import re

_BARE_LF = re.compile(rb"(?<!\r)\n")

NUL_BYTE = "550 5.6.0 NUL byte in message (RFC 5322 §2.3)"


def body_problem(data: bytes) -> str | None:
    """The reply refusing `data`, or None if it may be stored."""
    if b"\x00" in data:
        return NUL_BYTE
    return None


def normalize_line_ends(data: bytes) -> bytes:
    """Bare LF line ends become CRLF (RFC 5322 §2.3 wants CRLF; many clients, e.g.
    Python's smtplib given `as_bytes()`, send LF). Only the end of DATA must be a
    real CRLF.CRLF: aiosmtpd (>= 1.4.5) insists on it, which is what keeps a
    smuggled second message from hiding behind a bare-LF dot (as Postfix's
    `smtpd_forbid_bare_newline = normal`)."""
    if data.count(b"\n") == data.count(b"\r\n"):  # two C scans: the common case
        return data
    return _BARE_LF.sub(b"\r\n", data)
