"""The MX listener, spoken to by smtplib: local delivery only, durable 250."""

import smtplib
import socket

import pytest
from smtp_support import HOSTNAME, Server

from support import DOMAIN, make_message


def inbox(server: Server, name: str) -> list[str]:
    return [m.subject for m in server.world.door(name).list_messages("INBOX").items]


def test_delivers_to_one_local_user_with_a_received_field(server: Server) -> None:
    with server.client() as c:
        code, features = c.ehlo("client.test")
        assert code == 250
        text = features.decode()
        for ext in ("SIZE 65536", "8BITMIME", "SMTPUTF8", "PIPELINING", "STARTTLS"):
            assert ext in text
        assert "AUTH" not in text  # the MX takes no logins
        refused = c.sendmail(
            "someone@elsewhere.test", [f"alice@{DOMAIN}"], make_message("hello alice", "body a")
        )
    assert refused == {}
    assert inbox(server, "alice") == ["hello alice"]
    assert inbox(server, "bob") == []  # the second account sees nothing
    door = server.world.door("alice")
    raw = door.get_raw(door.list_messages("INBOX").items[0].id).data
    first = raw.split(b"\r\n", 1)[0]
    assert first.startswith(b"Received: from client.test ([127.0.0.1])")
    assert f"by {HOSTNAME} (mailward) with ESMTP".encode() in raw
    assert f"for <alice@{DOMAIN}>".encode() in raw


def test_several_recipients_get_their_own_sealed_copy(server: Server) -> None:
    with server.client() as c:
        c.sendmail(
            "x@elsewhere.test", [f"alice@{DOMAIN}", f"bob@{DOMAIN}"], make_message("both", "b")
        )
    a = server.world.door("alice").list_messages("INBOX").items
    b = server.world.door("bob").list_messages("INBOX").items
    assert [m.subject for m in a] == [m.subject for m in b] == ["both"]
    assert a[0].id != b[0].id and a[0].owner != b[0].owner
    raw = server.world.door("bob").get_raw(b[0].id).data
    assert b"for <" not in raw  # several recipients: none named in the trace field


def test_unknown_user_and_relay_are_refused(server: Server) -> None:
    with server.client() as c:
        c.ehlo("client.test")
        c.mail("x@elsewhere.test")
        assert c.rcpt(f"nobody@{DOMAIN}")[0] == 550
        code, msg = c.rcpt("someone@foreign.test")
        assert code == 550 and b"5.7.1" in msg
        code, msg = c.rcpt(f"nobody@{DOMAIN}")
        assert b"5.1.1" in msg
        assert c.rcpt("not-an-address")[0] == 553


def test_unknown_user_only_refuses_the_whole_message_with_smtplib(server: Server) -> None:
    with server.client() as c, pytest.raises(smtplib.SMTPRecipientsRefused):
        c.sendmail("x@elsewhere.test", [f"nobody@{DOMAIN}"], make_message("s", "b"))
    assert inbox(server, "alice") == []


def test_size_limit(server: Server) -> None:
    big = make_message("big", "x" * 70 * 1024)
    with server.client() as c:
        c.ehlo("client.test")
        code, msg = c.mail("x@elsewhere.test", [f"SIZE={len(big)}"])
        assert (code, msg[:5]) == (552, b"5.3.4")
    with server.client() as c, pytest.raises(smtplib.SMTPResponseException) as exc:
        c.sendmail("x@elsewhere.test", [f"alice@{DOMAIN}"], big)
    assert exc.value.smtp_code == 552 and exc.value.smtp_error.startswith(b"5.3.4")
    assert inbox(server, "alice") == []


def test_starttls_then_delivery_is_marked_esmtps(server: Server) -> None:
    with server.client() as c:
        c.starttls(context=server.tls())
        c.sendmail("x@elsewhere.test", [f"alice@{DOMAIN}"], make_message("over tls", "b"))
    door = server.world.door("alice")
    raw = door.get_raw(door.list_messages("INBOX").items[0].id).data
    assert b"with ESMTPS" in raw


def _raw_session(server: Server, lines: list[bytes]) -> list[bytes]:
    """Send raw lines in one write (pipelined); the reply lines up to QUIT's."""
    with socket.create_connection(server.mx, timeout=10) as s:
        f = s.makefile("rb")
        replies = [f.readline()]
        s.sendall(b"".join(lines))
        while not replies[-1].startswith((b"221 ", b"421 ")) and replies[-1]:
            replies.append(f.readline())
    return replies


def test_pipelined_transaction_in_one_write(server: Server) -> None:
    body = make_message("pipelined", "b").replace(b"\n", b"\r\n")
    replies = _raw_session(
        server,
        [
            b"EHLO client.test\r\n",
            b"MAIL FROM:<x@elsewhere.test>\r\n",
            f"RCPT TO:<alice@{DOMAIN}>\r\n".encode(),
            b"DATA\r\n",
            body + b"\r\n.\r\n",
            b"QUIT\r\n",
        ],
    )
    codes = [r[:3] for r in replies if r[3:4] == b" "]
    assert codes == [b"220", b"250", b"250", b"250", b"354", b"250", b"221"]
    assert inbox(server, "alice") == ["pipelined"]


def test_bare_lf_lines_are_stored_with_crlf(server: Server) -> None:
    with server.client() as c:
        c.sendmail("x@elsewhere.test", [f"alice@{DOMAIN}"], b"Subject: bare\n\nline one\nline two")
    door = server.world.door("alice")
    raw = door.get_raw(door.list_messages("INBOX").items[0].id).data
    assert raw.endswith(b"Subject: bare\r\n\r\nline one\r\nline two\r\n")


def test_a_bare_lf_dot_does_not_end_data(server: Server) -> None:
    """SMTP smuggling: "\n.\r\n" inside DATA must not end the message."""
    smuggled = (
        b"Subject: outer\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@elsewhere.test>\r\n"
        b"RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n"
    )
    replies = _raw_session(
        server,
        [
            b"EHLO client.test\r\n",
            b"MAIL FROM:<x@elsewhere.test>\r\n",
            f"RCPT TO:<alice@{DOMAIN}>\r\n".encode(),
            b"DATA\r\n",
            smuggled + b".\r\n",
            b"QUIT\r\n",
        ],
    )
    assert [r[:3] for r in replies if r[3:4] == b" "][-2:] == [b"250", b"221"]
    assert inbox(server, "alice") == ["outer"]
    assert inbox(server, "bob") == []


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"Subject: nul\r\n\r\nzero \x00 byte\r\n", b"550")],
)
def test_bad_bodies_are_refused_and_nothing_is_stored(
    server: Server, body: bytes, code: bytes
) -> None:
    replies = _raw_session(
        server,
        [
            b"EHLO client.test\r\n",
            b"MAIL FROM:<x@elsewhere.test>\r\n",
            f"RCPT TO:<alice@{DOMAIN}>\r\n".encode(),
            b"DATA\r\n",
            body + b".\r\n",
            b"QUIT\r\n",
        ],
    )
    finals = [r for r in replies if r[3:4] == b" "]
    assert finals[5][:3] == code, finals
    assert inbox(server, "alice") == []


def test_broken_commands_get_errors_and_the_server_goes_on(server: Server) -> None:
    replies = _raw_session(
        server,
        [
            b"EHLO client.test\r\n",
            b"FROBNICATE\r\n",
            b"MAIL FROM:<<<broken\r\n",
            b"RCPT TO:<alice@example.test>\r\n",  # no MAIL yet
            b"X" * 5000 + b"\r\n",
            b"QUIT\r\n",
        ],
    )
    codes = [r[:1] for r in replies if r[3:4] == b" "]
    assert codes[2:6] == [b"5", b"5", b"5", b"5"], replies
    test_delivers_after_trouble(server)


def test_delivers_after_trouble(server: Server) -> None:
    with server.client() as c:
        c.sendmail("x@elsewhere.test", [f"bob@{DOMAIN}"], make_message("still serving", "b"))
    assert "still serving" in inbox(server, "bob")


def test_disconnect_mid_data_stores_nothing(server: Server) -> None:
    with socket.create_connection(server.mx, timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        for line in (
            b"EHLO c.test\r\n",
            b"MAIL FROM:<x@elsewhere.test>\r\n",
            f"RCPT TO:<alice@{DOMAIN}>\r\n".encode(),
            b"DATA\r\n",
        ):
            s.sendall(line)
            while True:
                r = f.readline()
                if r[3:4] == b" ":
                    break
        s.sendall(b"Subject: half\r\n\r\nonly half of the body")
    test_delivers_after_trouble(server)
    assert inbox(server, "alice") == []


def test_smtputf8_and_8bitmime_arrive_intact(server: Server) -> None:
    body = "Grüße aus Köln, 東京より\r\n".encode()
    raw = (
        "From: Jörg <jörg@bücher.test>\r\nTo: alice@example.test\r\n"
        "Subject: Grüße\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body
    with server.client() as c:
        c.ehlo("client.test")
        assert c.has_extn("smtputf8") and c.has_extn("8bitmime")
        refused = c.sendmail(
            "jörg@bücher.test", [f"alice@{DOMAIN}"], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"]
        )
    assert refused == {}
    door = server.world.door("alice")
    (item,) = door.list_messages("INBOX").items
    assert item.subject == "Grüße"
    assert door.get_raw(item.id).data.endswith(raw)


def test_a_data_line_over_the_limit_is_refused_and_nothing_stored(server: Server) -> None:
    replies = _raw_session(
        server,
        [
            b"EHLO client.test\r\n",
            b"MAIL FROM:<x@elsewhere.test>\r\n",
            f"RCPT TO:<alice@{DOMAIN}>\r\n".encode(),
            b"DATA\r\n",
            b"Subject: long\r\n\r\n" + b"z" * 1500 + b"\r\n.\r\n",
            b"QUIT\r\n",
        ],
    )
    finals = [r for r in replies if r[3:4] == b" "]
    assert finals[-2].startswith(b"500 5.5.2 Line too long"), finals
    assert inbox(server, "alice") == []
    test_delivers_after_trouble(server)


def test_malformed_mime_is_stored_raw_and_listed_best_effort(server: Server) -> None:
    raw = (
        b"Subject: =?utf-8?q?broken=ZZ?=\r\nContent-Type: multipart/mixed; boundary=\r\n"
        b"MIME-Version: 1.0\r\n\r\n--\r\n\xff\xfe not really a part\r\n--\r\n"
    )
    with server.client() as c:
        c.sendmail("x@elsewhere.test", [f"alice@{DOMAIN}"], raw)
    door = server.world.door("alice")
    (item,) = door.list_messages("INBOX").items
    assert door.get_raw(item.id).data.endswith(raw)
    door.get_message(item.id)  # shown best-effort, no exception
