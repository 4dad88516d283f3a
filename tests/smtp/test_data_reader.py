"""The DATA reader against a table of streams, and against aiosmtpd's own
line-by-line reading (hypothesis): the same message, the same refusals."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.smtp.data import DataResult, read_data


def run(stream: bytes, max_bytes: int | None = None, limit: int = 1001) -> tuple[DataResult, bytes]:
    async def go() -> tuple[DataResult, bytes]:
        reader = asyncio.StreamReader(limit=limit)
        reader.feed_data(stream)
        reader.feed_eof()
        result = await read_data(reader, max_bytes)
        return result, await reader.read()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("stream", "content", "rest"),
    [
        (b".\r\nQUIT\r\n", b"", b"QUIT\r\n"),  # empty message, next command pipelined
        (b"a\r\n.\r\n", b"a\r\n", b""),
        (b"\r\n.\r\n", b"\r\n", b""),
        (
            b"end of a sentence.\r\nmore\r\n.\r\nQUIT\r\n",
            b"end of a sentence.\r\nmore\r\n",
            b"QUIT\r\n",
        ),
        (b"..leading dot\r\n.\r\n", b".leading dot\r\n", b""),
        (b"x\r\n..\r\n...\r\n.\r\n", b"x\r\n.\r\n..\r\n", b""),
        (b"bare\n.\r\nstill data\r\n.\r\n", b"bare\n.\r\nstill data\r\n", b""),  # no smuggling
        (b"a\r\n.\n.\r\n.\r\n", b"a\r\n\n.\r\n", b""),  # ".\n." is a line, not the end
    ],
)
def test_table(stream: bytes, content: bytes, rest: bytes) -> None:
    result, left = run(stream)
    assert (result.content, left) == (content, rest)


def test_large_message_across_the_reader_limit() -> None:
    body = b"".join(b"line %06d " % i + b"x" * 60 + b"\r\n" for i in range(2000))
    result, left = run(body + b".\r\nNOOP\r\n", limit=1001)
    assert result.content == body and left == b"NOOP\r\n"


def test_too_much_is_read_to_the_end_and_refused() -> None:
    result, left = run(b"x" * 70 + b"\r\n" * 1000 + b".\r\nQUIT\r\n", max_bytes=500)
    assert (result.content, result.problem, left) == (None, "too-much", b"QUIT\r\n")


def test_too_long_line_is_refused() -> None:
    result, left = run(b"y" * 1200 + b"\r\n.\r\nQUIT\r\n")
    assert (result.content, result.problem, left) == (None, "too-long", b"QUIT\r\n")


def test_peer_gone_mid_data_raises() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        run(b"Subject: half\r\n\r\nonly half")


def _reference(stream: bytes) -> bytes:
    """RFC 5321 §4.5.2 the slow way: line by line up to the lone dot."""
    out = []
    for line in stream.split(b"\r\n"):
        if line == b".":
            break
        out.append(line[1:] if line.startswith(b".") else line)
    return b"".join(x + b"\r\n" for x in out)


lines = st.lists(
    st.binary(max_size=80).map(lambda b: b.replace(b"\r\n", b"")).filter(lambda b: b != b"."),
    max_size=40,
)


@given(lines)
def test_agrees_with_line_by_line_reading(msg_lines: list[bytes]) -> None:
    stuffed = b"".join((b"." + x if x.startswith(b".") else x) + b"\r\n" for x in msg_lines)
    stream = stuffed + b".\r\nQUIT\r\n"
    if any(len(x) > 997 for x in msg_lines) or b"\r" in b"".join(msg_lines):
        return
    result, left = run(stream)
    assert result.content == _reference(stream)
    assert left == b"QUIT\r\n"
