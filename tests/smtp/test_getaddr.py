"""The fast path of MAIL/RCPT address parsing gives aiosmtpd's own answer."""

import asyncio

from aiosmtpd.smtp import SMTP
from hypothesis import given
from hypothesis import strategies as st

from mailward.smtp.server import MailwardSMTP


class _Handler:
    pass


def _pair() -> tuple[SMTP, MailwardSMTP]:
    loop = asyncio.new_event_loop()
    try:
        return SMTP(_Handler(), loop=loop), MailwardSMTP(_Handler(), loop=loop)
    finally:
        loop.close()


REFERENCE, OURS = _pair()

TABLE = [
    "<alice@example.test>",
    "<alice@example.test> SIZE=100 BODY=8BITMIME",
    "<a.b+c@sub.example.test>",
    "<>",
    "<a..b@example.test>",
    "<.a@example.test>",
    '<"quoted local"@example.test>',
    "<jörg@bücher.test> SMTPUTF8",
    "alice@example.test",
    "<alice@example.test",
    "<@relay.test:alice@example.test>",
    "<alice@[127.0.0.1]>",
    "<alice@example.test>SIZE=1",
    "",
    "0@",
    "0@[",
]


def reference(arg: str) -> tuple[str | None, str | None]:
    try:
        return REFERENCE._getaddr(arg)  # type: ignore[no-any-return]
    except Exception:  # aiosmtpd's own parse crashes: ours refuses
        return None, None


def test_table() -> None:
    for arg in TABLE:
        assert OURS._getaddr(arg) == reference(arg), arg


atext = st.sampled_from(list("abcXYZ019!#$%&'*+/=?^_`{|}~-.@<> \"\tö[]:"))


@given(st.text(atext, max_size=40), st.sampled_from(["", " SIZE=1", "X", " "]))
def test_same_as_aiosmtpd(body: str, tail: str) -> None:
    for arg in (f"<{body}>{tail}", body + tail):
        assert OURS._getaddr(arg) == reference(arg), arg
