"""The POP3 grammar: tables of lines and what they parse to, replies and
byte-stuffing, and fuzzing (the parser raises CommandError and nothing else)."""

import ast
import base64
import contextlib
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.pop3 import protocol
from mailward.pop3.protocol import (
    SYNTAX,
    Command,
    CommandError,
    continuation,
    err,
    message_lines,
    multiline,
    ok,
    parse_command,
    plain_credentials,
    sasl_response,
    stuff,
)
from mailward.pop3.session import ALLOWED, COMMANDS

PARSED = [
    (b"USER alice@example.test\r\n", Command("USER", ("alice@example.test",))),
    (b"user alice\r\n", Command("USER", ("alice",))),
    (b"PASS correct horse battery\r\n", Command("PASS", ("correct horse battery",))),
    (b"PASS  leading space\r\n", Command("PASS", (" leading space",))),
    (b"STAT\r\n", Command("STAT")),
    (b"stat\n", Command("STAT")),  # a bare LF ends a line too
    (b"NOOP", Command("NOOP")),  # without a line end (the last line before EOF)
    (b"LIST\r\n", Command("LIST")),
    (b"LIST 2\r\n", Command("LIST", ("2",), (2,))),
    (b"RETR 1\r\n", Command("RETR", ("1",), (1,))),
    (b"RETR  7\r\n", Command("RETR", ("7",), (7,))),  # several spaces: lenient
    (b"RETR 0\r\n", Command("RETR", ("0",), (0,))),  # in range or not: the session decides
    (b"TOP 1 10\r\n", Command("TOP", ("1", "10"), (1, 10))),
    (b"DELE 3\r\n", Command("DELE", ("3",), (3,))),
    (b"UIDL 12\r\n", Command("UIDL", ("12",), (12,))),
    (b"CAPA\r\n", Command("CAPA")),
    (b"STLS\r\n", Command("STLS")),
    (b"AUTH\r\n", Command("AUTH")),
    (b"AUTH PLAIN\r\n", Command("AUTH", ("PLAIN",))),
    (b"AUTH PLAIN AGFsaWNlAHB3\r\n", Command("AUTH", ("PLAIN", "AGFsaWNlAHB3"))),
    ("PASS pässwörd\r\n".encode(), Command("PASS", ("pässwörd",))),
]

REFUSED = [
    (b"\r\n", "empty command"),
    (b" STAT\r\n", "empty command"),
    (b"XYZZ\r\n", "unknown command"),
    (b"APOP alice 0123\r\n", "unknown command"),  # RFC 1939 §7: optional, not served
    (b"RETRIEVE 1\r\n", "unknown command"),
    ("STAß\r\n".encode(), "unknown command"),
    (b"RETR\r\n", "wrong number of arguments"),
    (b"RETR 1 2\r\n", "wrong number of arguments"),
    (b"STAT 1\r\n", "wrong number of arguments"),
    (b"TOP 1\r\n", "wrong number of arguments"),
    (b"PASS\r\n", "wrong number of arguments"),
    (b"RETR abc\r\n", "invalid number"),
    (b"RETR -1\r\n", "invalid number"),
    (b"RETR 1.5\r\n", "invalid number"),
    ("RETR ²\r\n".encode(), "invalid number"),
    (b"RETR 12345678901\r\n", "invalid number"),
    (b"TOP 1 x\r\n", "invalid number"),
    (b"USER " + b"a" * 321 + b"\r\n", "argument too long"),
    (b"RETR \x001\r\n", "control characters"),
    (b"STAT\r\r\n", "control characters"),
    (b"USER al\tice\r\n", "control characters"),
    (b"USER \xff\xfe\r\n", "not UTF-8"),
    (b"NOOP " + b"x" * 2000 + b"\r\n", "line too long"),
]


@pytest.mark.parametrize(("line", "command"), PARSED)
def test_parse(line: bytes, command: Command) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(("line", "reason"), REFUSED)
def test_refused(line: bytes, reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        parse_command(line)


def test_a_password_is_not_in_the_repr() -> None:
    assert "secret" not in repr(parse_command(b"PASS secret\r\n"))


def test_the_session_serves_exactly_the_grammars_commands() -> None:
    assert set(COMMANDS) == set(SYNTAX)
    assert set().union(*ALLOWED.values()) <= set(COMMANDS)


def test_the_grammar_imports_only_core_and_the_standard_library() -> None:
    package = Path(protocol.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert (
                    name.startswith(("mailward.core", "mailward.pop3.protocol"))
                    or top in sys.stdlib_module_names
                ), f"{path.name} imports {name}"


STUFFED = [
    (b"", b""),
    (b"a\r\nb\r\n", b"a\r\nb\r\n"),
    (b"a\nb\n", b"a\r\nb\r\n"),  # LF line ends go out as CRLF
    (b"a\nb", b"a\r\nb\r\n"),  # the last line gets its CRLF
    (b".hidden\r\n", b"..hidden\r\n"),
    (b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n"),  # a lone "." is not the end
    (b"a\n..two\n", b"a\r\n...two\r\n"),
    (b"a.b\r\n", b"a.b\r\n"),
    (b"bare\rcr\r\n", b"bare\rcr\r\n"),  # a lone CR is not a line end
]


@pytest.mark.parametrize(("data", "wire"), STUFFED)
def test_stuff(data: bytes, wire: bytes) -> None:
    assert stuff(data) == wire


def test_replies() -> None:
    assert ok() == b"+OK\r\n"
    assert ok("2 320") == b"+OK 2 320\r\n"
    assert err("no such message") == b"-ERR no such message\r\n"
    assert err("two\r\nlines") == b"-ERR two lines\r\n"  # never a second line
    assert len(err("x" * 5000)) <= 512  # RFC 2449 §4
    assert multiline("list", ["1 120", ".2"]) == b"+OK list\r\n1 120\r\n..2\r\n.\r\n"
    assert message_lines("3 octets", b"a\n") == b"+OK 3 octets\r\na\r\n.\r\n"
    assert message_lines("0 octets", b"") == b"+OK 0 octets\r\n.\r\n"
    assert continuation() == b"+ \r\n"


def test_sasl_plain() -> None:
    assert sasl_response(b"*\r\n") is None
    assert sasl_response(b"=\r\n") == b""
    assert sasl_response(base64.b64encode(b"\0alice\0pw") + b"\r\n") == b"\0alice\0pw"
    with pytest.raises(CommandError):
        sasl_response(b"not base64!\r\n")
    assert plain_credentials(b"\0alice\0pw") == ("alice", "pw")
    assert plain_credentials(b"alice\0alice\0pw") == ("alice", "pw")
    for bad in (b"alice\0pw", b"\0\0pw", b"\0alice\0", b"bob\0alice\0pw", b"\0\xff\0pw"):
        with pytest.raises(CommandError):
            plain_credentials(bad)


def _unstuff(wire: bytes) -> bytes:
    """What a client makes of the lines of a multi-line reply (RFC 1939 §3)."""
    lines = wire.split(b"\r\n")[:-1]
    return b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


@given(st.binary(max_size=2000))
def test_parser_raises_only_its_own_error(line: bytes) -> None:
    try:
        command = parse_command(line)
    except CommandError:
        return
    assert command.name in SYNTAX


@given(st.lists(st.sampled_from(["STAT", "RETR", "TOP", "1", " ", "\r\n", "\n", "x", "é"])))
def test_parser_on_near_commands(parts: list[str]) -> None:
    with contextlib.suppress(CommandError):
        parse_command("".join(parts).encode())


@given(st.binary(max_size=2000))
def test_sasl_parsers_raise_only_their_own_error(data: bytes) -> None:
    for parse in (sasl_response, plain_credentials):
        with contextlib.suppress(CommandError):
            parse(data)


@given(st.binary(max_size=2000))
def test_stuffing_round_trips_and_never_ends_the_reply_early(data: bytes) -> None:
    wire = stuff(data)
    assert b"\r\n.\r\n" not in b"\r\n" + wire  # no line is a lone "."
    # Every line end is CRLF; the client gets the data with CRLF line ends back.
    assert wire.replace(b"\r\n", b"").count(b"\n") == 0
    expected = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if expected and not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert _unstuff(wire) == expected
