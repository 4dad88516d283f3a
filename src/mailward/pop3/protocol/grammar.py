"""POP3 commands in (RFC 1939 §3, RFC 2449 §3-4, RFC 5034 §4), replies out.

A command line is a keyword, then arguments separated by spaces, then CRLF.
`parse_command` checks the keyword against `SYNTAX` (the commands we serve), the
number and length of the arguments, and that message numbers are numbers, so a
handler gets a well-formed `Command` or the client gets `-ERR` with the reason.
Anything that is not a command of ours raises `CommandError`, and nothing else.
"""

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mailward.core.errors import InvalidInput

# RFC 2449 §4 allows a command 255 octets with its CRLF; some clients send longer
# lines (a long password, a SASL response), so we take up to 1,000.
MAX_LINE_BYTES = 1000
MAX_ARG_CHARS = 40  # RFC 1939 §3: arguments may be up to 40 characters long
MAX_NUMBER_DIGITS = 10  # a message number or a line count: no more than 10 digits
MAX_REPLY_TEXT = 480  # RFC 2449 §4: a response line is at most 512 octets with CRLF
CRLF = b"\r\n"
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class CommandError(InvalidInput):
    """A line that is not a well-formed command of ours (answered with -ERR)."""


@dataclass(frozen=True, slots=True)
class Syntax:
    """The shape of one command's arguments.

    Attributes:
        least, most: how many arguments it takes.
        numeric: every argument is a decimal number (`Command.numbers`).
        rest: one argument, the rest of the line with its spaces (RFC 1939 §7 PASS).
        arg_chars: the longest argument taken.
    """

    least: int = 0
    most: int = 0
    numeric: bool = False
    rest: bool = False
    arg_chars: int = MAX_ARG_CHARS


SYNTAX: dict[str, Syntax] = {
    # RFC 1939 §4-7
    "USER": Syntax(1, 1, arg_chars=320),  # a full address (RFC 5321 §4.5.3.1)
    "PASS": Syntax(1, 1, rest=True, arg_chars=MAX_LINE_BYTES),
    "QUIT": Syntax(),
    "STAT": Syntax(),
    "LIST": Syntax(0, 1, numeric=True),
    "RETR": Syntax(1, 1, numeric=True),
    "DELE": Syntax(1, 1, numeric=True),
    "NOOP": Syntax(),
    "RSET": Syntax(),
    "TOP": Syntax(2, 2, numeric=True),
    "UIDL": Syntax(0, 1, numeric=True),
    "CAPA": Syntax(),  # RFC 2449 §5
    "STLS": Syntax(),  # RFC 2595 §4
    "AUTH": Syntax(0, 2, arg_chars=MAX_LINE_BYTES),  # RFC 5034 §4: mechanism [initial-response]
}


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command. `name` is upper-case; `numbers` holds the arguments
    as integers for the commands whose arguments are numbers. The arguments are
    left out of the repr: PASS carries a password."""

    name: str
    args: tuple[str, ...] = field(default=(), repr=False)
    numbers: tuple[int, ...] = ()


def _text(line: bytes) -> str:
    """The line without its line end, as text (UTF-8: RFC 6856 §3 UTF8 passwords)."""
    if line.endswith(CRLF):
        line = line[:-2]
    elif line.endswith(b"\n"):  # a bare LF ends a line too: be lenient in what we accept
        line = line[:-1]
    if _CONTROL.search(line):
        raise CommandError("control characters in command")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("command is not UTF-8") from None


def parse_command(line: bytes) -> Command:
    """Parse one command line (with or without its CRLF).

    Raises:
        CommandError: too long, not text, an unknown keyword, the wrong number of
            arguments, an argument too long, or a number that is not one.
    """
    if len(line) > MAX_LINE_BYTES:
        raise CommandError("line too long")
    text = _text(line)
    keyword, _, rest = text.partition(" ")
    if not keyword:
        raise CommandError("empty command")
    # RFC 2449 §3: keywords are case-insensitive (and ASCII: "ß".upper() is "SS").
    syntax = SYNTAX.get(keyword.upper()) if keyword.isascii() else None
    if syntax is None:
        raise CommandError("unknown command")
    name = keyword.upper()
    if syntax.rest:
        args: tuple[str, ...] = (rest,) if rest else ()
    else:
        args = tuple(a for a in rest.split(" ") if a)  # several spaces: lenient
    if not syntax.least <= len(args) <= syntax.most:
        raise CommandError(f"wrong number of arguments for {name}")
    if any(len(a) > syntax.arg_chars for a in args):
        raise CommandError("argument too long")
    numbers: tuple[int, ...] = ()
    if syntax.numeric:
        if not all(a.isascii() and a.isdigit() and len(a) <= MAX_NUMBER_DIGITS for a in args):
            raise CommandError("invalid number")
        numbers = tuple(int(a) for a in args)
    return Command(name, args, numbers)


def sasl_response(line: bytes) -> bytes | None:
    """A client's SASL response (RFC 5034 §4): base64, `=` for an empty one,
    `*` to cancel (None).

    Raises:
        CommandError: not base64.
    """
    text = _text(line).strip(" ")
    if text == "*":
        return None
    if text == "=":
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise CommandError("malformed SASL response") from None


def plain_credentials(data: bytes) -> tuple[str, str]:
    """The user and password of a SASL PLAIN message (RFC 4616 §2:
    authzid NUL authcid NUL passwd); the authzid must be empty or the user.

    Raises:
        CommandError: not three UTF-8 fields, an empty user or password, or an
            authorization identity other than the user.
    """
    fields = data.split(b"\x00")
    if len(fields) != 3:
        raise CommandError("malformed PLAIN response")
    try:
        authzid, user, password = (f.decode("utf-8") for f in fields)
    except UnicodeDecodeError:
        raise CommandError("malformed PLAIN response") from None
    if not user or not password:
        raise CommandError("malformed PLAIN response")
    if authzid and authzid != user:
        raise CommandError("acting as another user is not supported")
    return user, password


# -- replies ------------------------------------------------------------------------


def _line(status: str, text: str) -> bytes:
    # One line whatever the text (an error message could hold a line end).
    text = " ".join(text.split())[:MAX_REPLY_TEXT]
    out = f"{status} {text}" if text else status
    return out.encode("ascii", "replace") + CRLF


def ok(text: str = "") -> bytes:
    """`+OK text` (RFC 1939 §3)."""
    return _line("+OK", text)


def err(text: str) -> bytes:
    """`-ERR text`; a response code goes first in brackets (RFC 2449 §8)."""
    return _line("-ERR", text)


def continuation(challenge: bytes = b"") -> bytes:
    """A SASL challenge (RFC 5034 §4): `+` SP base64."""
    return b"+ " + base64.b64encode(challenge) + CRLF


def stuff(data: bytes) -> bytes:
    """Data as the lines of a multi-line response (RFC 1939 §3): every line end
    CRLF (a lone LF becomes CRLF), a line that begins with "." gets another one
    in front, and the data ends with CRLF. The terminating "." is not added."""
    if not data:
        return b""
    data = data.replace(CRLF, b"\n").replace(b"\n", CRLF)
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\r\n.", b"\r\n..")
    if not data.endswith(CRLF):
        data += CRLF
    return data


def multiline(status: str, lines: Iterable[str]) -> bytes:
    """`+OK status`, the lines (byte-stuffed), and the terminating `.`."""
    body = "".join(f"{line}\r\n" for line in lines).encode("ascii", "replace")
    return ok(status) + stuff(body) + b".\r\n"


def message_lines(status: str, data: bytes) -> bytes:
    """`+OK status`, a message's bytes (byte-stuffed), and the terminating `.`."""
    return ok(status) + stuff(data) + b".\r\n"
