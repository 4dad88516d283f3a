"""RFC 3464 delivery status notifications: structure, fields, and what never leaks."""

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailward.outbound import RecipientFailure, build_dsn, is_bounce

ARRIVAL = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
NOW = ARRIVAL + timedelta(days=5)

ORIGINAL = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: nobody@remote.test, later@remote.test\r\n"
    b"Subject: Quarterly numbers\r\n"
    b"Message-ID: <q1@example.test>\r\n"
    b"\r\n"
    b"The confidential body text.\r\n"
)

FAILURES = [
    RecipientFailure(
        recipient="nobody@remote.test",
        status="5.1.1",
        diagnostic="smtp; 550 5.1.1 no such user",
        remote_mta="dns; smarthost.example",
        last_attempt=NOW - timedelta(minutes=1),
    ),
    RecipientFailure(
        recipient="later@remote.test",
        status="4.4.7",
        diagnostic="smtp; 451 4.4.1 connection timed out",
    ),
]


def dsn(
    original: bytes = ORIGINAL, failures: list[RecipientFailure] = FAILURES
) -> tuple[bytes, EmailMessage]:
    raw = build_dsn(
        reporting_mta="mx.example.test",
        envelope_from="alice@example.test",
        original=original,
        failures=failures,
        arrival=ARRIVAL,
        now=NOW,
    )
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return raw, msg


def report_parts(msg: EmailMessage) -> tuple[Message, list[Message], Message]:
    """The text part, the delivery-status blocks, and the headers part."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    text, status, headers = msg.get_payload()
    assert [p.get_content_type() for p in (text, status, headers)] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    blocks = status.get_payload()
    assert isinstance(blocks, list)
    return text, blocks, headers


def test_envelope_headers() -> None:
    _, msg = dsn()
    assert msg["To"] == "alice@example.test"
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.test>"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Date"].datetime == NOW
    assert re.fullmatch(r"<[^<>@\s]+@mx\.example\.test>", msg["Message-ID"])
    assert msg["Message-ID"] != dsn()[1]["Message-ID"]
    assert msg.defects == []


def test_delivery_status_fields_for_two_recipients() -> None:
    _, msg = dsn()
    _, blocks, _ = report_parts(msg)
    per_message, first, second = blocks
    assert per_message["Reporting-MTA"] == "dns; mx.example.test"
    assert per_message["Arrival-Date"] == "Sun, 01 Mar 2026 09:30:00 +0000"

    assert first["Final-Recipient"] == "rfc822; nobody@remote.test"
    assert first["Action"] == "failed"
    assert first["Status"] == "5.1.1"
    assert first["Remote-MTA"] == "dns; smarthost.example"
    assert first["Diagnostic-Code"] == "smtp; 550 5.1.1 no such user"
    assert first["Last-Attempt-Date"] == "Fri, 06 Mar 2026 09:29:00 +0000"

    assert second["Final-Recipient"] == "rfc822; later@remote.test"
    assert second["Action"] == "failed"
    assert second["Status"] == "4.4.7"
    assert second["Diagnostic-Code"] == "smtp; 451 4.4.1 connection timed out"
    assert second["Remote-MTA"] is None
    assert second["Last-Attempt-Date"] is None


def test_text_part_explains_each_failure() -> None:
    _, msg = dsn()
    text, _, _ = report_parts(msg)
    assert isinstance(text, EmailMessage)
    body = text.get_content()
    assert "<nobody@remote.test>: smtp; 550 5.1.1 no such user" in body
    assert "<later@remote.test>: smtp; 451 4.4.1 connection timed out" in body


def test_headers_come_back_but_never_the_body() -> None:
    raw, msg = dsn()
    _, _, headers = report_parts(msg)
    assert isinstance(headers, EmailMessage)
    assert "Subject: Quarterly numbers" in headers.get_content()
    assert b"Subject: Quarterly numbers" in raw
    assert b"confidential" not in raw


def test_crlf_line_endings() -> None:
    raw, _ = dsn()
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("original", "headers_kept"),
    [
        (b"", ""),
        (b"no header here at all\r\njust text\r\n", ""),
        (b"Subject: no separator\r\nstill a body line\r\nX: y\r\n", "Subject: no separator"),
        (b"Subject: bare LF\nX-A: 1\n\nbody\n", "Subject: bare LF\nX-A: 1"),
        (b"Subject: caf\xff\xfe \x00bad\r\n\r\nbody", "Subject: caf\ufffd\ufffd ?bad"),
        (b" continuation first\r\nSubject: x\r\n\r\n", ""),
        (b"\x00\x01\x02\xff" * 50, ""),
    ],
)
def test_malformed_original_still_gives_a_valid_dsn(original: bytes, headers_kept: str) -> None:
    _, msg = dsn(original)
    _, blocks, headers = report_parts(msg)
    assert len(blocks) == 3
    assert isinstance(headers, EmailMessage)
    assert headers.get_content().replace("\r\n", "\n").rstrip("\n") == headers_kept


def test_cr_lf_in_recipient_and_diagnostic_cannot_inject_headers() -> None:
    evil = RecipientFailure(
        recipient="victim@remote.test\r\nBcc: everyone@example.test",
        status="5.7.1",
        diagnostic="smtp; 550 go away\r\n\r\nX-Injected: yes\n--boundary",
        remote_mta="dns; smarthost.example\rX-Also: injected",
    )
    raw, msg = dsn(failures=[evil])
    assert msg["Bcc"] is None
    _, blocks, _ = report_parts(msg)
    assert len(blocks) == 2
    block = blocks[1]
    assert set(block.keys()) == {
        "Final-Recipient",
        "Action",
        "Status",
        "Remote-MTA",
        "Diagnostic-Code",
    }
    assert block["Final-Recipient"] == "rfc822; victim@remote.test Bcc: everyone@example.test"
    assert block["Diagnostic-Code"] == "smtp; 550 go away X-Injected: yes --boundary"
    assert not re.search(rb"\r\n(Bcc|X-Injected|X-Also):", raw)


def test_untyped_values_get_a_type_and_non_ascii_recipients_use_utf8_type() -> None:
    failure = RecipientFailure(
        recipient="j\u00f6rg+x@remote.test",
        status="5.1.1",
        diagnostic="mailbox full",
        remote_mta="smarthost.example",
    )
    raw, msg = dsn(failures=[failure])
    block = report_parts(msg)[1][1]
    # RFC 6533 §3 utf-8-addr-xtext
    assert block["Final-Recipient"] == "utf-8; j\\x{F6}rg\\x{2B}x@remote.test"
    assert block["Diagnostic-Code"] == "X-Mailward; mailbox full"
    assert block["Remote-MTA"] == "dns; smarthost.example"
    assert b"=?" not in raw


def test_long_diagnostic_stays_plain_ascii() -> None:
    failure = RecipientFailure("a@remote.test", "5.0.0", "smtp; 550 " + "x" * 3000)
    raw, msg = dsn(failures=[failure])
    diagnostic = report_parts(msg)[1][1]["Diagnostic-Code"]
    assert diagnostic.startswith("smtp; 550 xxx")
    assert b"=?" not in raw
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"envelope_from": "<>"}, "null sender"),
        ({"failures": []}, "at least one"),
        ({"arrival": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"reporting_mta": " \r\n"}, "blank"),
    ],
)
def test_refused_inputs(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "reporting_mta": "mx.example.test",
        "envelope_from": "alice@example.test",
        "original": ORIGINAL,
        "failures": FAILURES,
        "arrival": ARRIVAL,
        "now": NOW,
    }
    with pytest.raises(ValueError, match=message):
        build_dsn(**(args | kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["2.1.5", "5.1.1\r\nX: y", "5.1234.1", "", "550"])
def test_a_status_that_is_not_a_failure_code_reads_as_5_0_0(status: str) -> None:
    _, msg = dsn(failures=[RecipientFailure("a@remote.test", status, "smtp; 550 2.1.5 odd")])
    block = report_parts(msg)[1][1]
    assert block["Status"] == "5.0.0"
    assert "X" not in block


@pytest.mark.parametrize(
    ("sender", "bounce"),
    [("", True), ("<>", True), (" <> ", True), ("alice@example.test", False), ("<a@b>", False)],
)
def test_is_bounce(sender: str, bounce: bool) -> None:
    assert is_bounce(sender) is bounce


@given(original=st.binary(max_size=2000), recipient=st.text(max_size=80), diag=st.text())
def test_fuzz_any_input_gives_a_well_formed_report(
    original: bytes, recipient: str, diag: str
) -> None:
    raw, msg = dsn(original, [RecipientFailure(recipient or "x", "5.0.0", diag)])
    assert b"\n" not in raw.replace(b"\r\n", b"")
    _, blocks, _ = report_parts(msg)
    assert len(blocks) == 2
    assert set(blocks[1].keys()) <= {"Final-Recipient", "Action", "Status", "Diagnostic-Code"}
    if b"\r\n\r\n" in original:
        body = original.split(b"\r\n\r\n", 1)[1]
        assert len(body) < 16 or body not in raw
