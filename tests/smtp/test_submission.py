"""The submission listener, spoken to by smtplib: STARTTLS, AUTH, own sender only,
Sent copy, local delivery and the outbound queue."""

import smtplib

import pytest
from smtp_support import Server

from mailward.core.principal import Protocol
from support import DOMAIN, PASSWORD, make_message

ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


def subjects(server: Server, name: str, box: str = "INBOX") -> list[str]:
    return [m.subject for m in server.world.door(name).list_messages(box).items]


def test_auth_is_refused_before_starttls(server: Server) -> None:
    with server.client("submission") as c:
        code, features = c.ehlo("client.test")
        assert b"STARTTLS" in features and b"AUTH" not in features
        code, msg = c.docmd("AUTH", "PLAIN AGFsaWNlAHB3")
        assert code == 530 and b"STARTTLS" in msg
        code, _ = c.docmd("MAIL", f"FROM:<{ALICE}>")
        assert code == 530  # STARTTLS first (aiosmtpd's require_starttls)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_auth_and_send_to_a_local_user(server: Server, mechanism: str) -> None:
    with server.client("submission") as c:
        c.starttls(context=server.tls())
        code, features = c.ehlo("client.test")
        assert b"AUTH" in features and mechanism.encode() in features
        c.user, c.password = ALICE, PASSWORD
        code, _ = c.auth(mechanism, getattr(c, f"auth_{mechanism.lower()}"))
        assert code == 235
        msg = make_message("lunch?", "at noon", sender=ALICE, to=BOB)
        assert c.sendmail(ALICE, [BOB], msg) == {}
    assert subjects(server, "bob") == ["lunch?"]
    assert subjects(server, "alice", "Sent") == ["lunch?"]
    sent = server.world.door("alice").list_messages("Sent").items[0]
    assert not sent.unread  # a Sent copy is \\Seen
    assert subjects(server, "carol") == []
    raw = server.world.door("bob").get_raw(server.world.door("bob").list_messages().items[0].id)
    assert b"with ESMTPSA" in raw.data


def plain(c: smtplib.SMTP, address: str, password: str) -> None:
    """One AUTH PLAIN (smtplib's login() would try every mechanism in turn)."""
    c.ehlo_or_helo_if_needed()
    c.user, c.password = address, password
    c.auth("PLAIN", c.auth_plain)


def test_wrong_password_is_refused_recorded_and_throttled(server: Server) -> None:
    for _ in range(3):
        with server.client("submission") as c:
            c.starttls(context=server.tls())
            with pytest.raises(smtplib.SMTPAuthenticationError) as exc:
                plain(c, ALICE, "wrong password")
            assert exc.value.smtp_code == 535
    alice = server.world.users["alice"].account_id
    events = server.world.rt.logins.history(alice)
    failed = [e for e in events if not e.success and e.protocol == Protocol.SUBMISSION.value]
    assert len(failed) == 3
    assert all(e.remote == "127.0.0.1" and "client.test" in e.client for e in failed)
    for _ in range(10):  # past the throttle, even the right password is refused
        with server.client("submission") as c:
            c.starttls(context=server.tls())
            with pytest.raises(smtplib.SMTPAuthenticationError):
                plain(c, ALICE, "wrong again")
    with server.client("submission") as c:
        c.starttls(context=server.tls())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            plain(c, ALICE, PASSWORD)
    assert server.world.rt.logins.history(alice)[0].reason == "throttled"


def test_envelope_sender_of_another_account_is_refused(server: Server) -> None:
    with server.login(ALICE, PASSWORD) as c:
        code, msg = c.mail(BOB)
        assert code == 553 and msg.startswith(b"5.7.1")
        code, msg = c.mail("ceo@foreign.test")
        assert code == 553


def test_from_header_of_another_account_is_refused_and_nothing_stored(server: Server) -> None:
    with server.login(ALICE, PASSWORD) as c, pytest.raises(smtplib.SMTPDataError) as exc:
        c.sendmail(ALICE, [BOB], make_message("spoofed", "b", sender=f"Bob <{BOB}>", to=BOB))
    assert exc.value.smtp_code == 553
    assert subjects(server, "bob") == []
    assert subjects(server, "alice", "Sent") == []


def test_unknown_local_recipient_is_refused(server: Server) -> None:
    with server.login(ALICE, PASSWORD) as c:
        c.mail(ALICE)
        code, msg = c.rcpt(f"nobody@{DOMAIN}")
        assert code == 550 and msg.startswith(b"5.1.1")


def test_foreign_recipients_are_queued_with_the_local_ones_delivered(server: Server) -> None:
    with server.login(ALICE, PASSWORD) as c:
        msg = make_message("mixed", "body", sender=ALICE, to="friend@foreign.test")
        c.sendmail(ALICE, [BOB, "friend@foreign.test", "other@foreign.test"], msg)
    assert server.queued.is_set()
    assert subjects(server, "bob") == ["mixed"]
    assert subjects(server, "alice", "Sent") == ["mixed"]
    (entry,) = server.world.rt.relaying().entries()
    assert entry.mail_from == ALICE
    assert [r.address for r in entry.recipients] == ["friend@foreign.test", "other@foreign.test"]
    assert entry.owner == server.world.users["alice"].account_id


def test_two_factor_accounts_submit_with_an_app_password_only(server: Server) -> None:
    import pyotp

    w = server.world
    alice = w.users["alice"]
    second, apps = w.rt.logins.second_factor, w.rt.logins.app_passwords
    assert second is not None and apps is not None
    secret, _ = second.start(alice.account_id, alice.address)
    second.confirm(alice.account_id, pyotp.TOTP(secret).now())
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        server.login(alice.address, PASSWORD)
    assert refused.value.smtp_code == 535
    _info, app_secret = apps.create(alice.account_id, "swaks")
    c = server.login(alice.address, app_secret)
    c.sendmail(
        alice.address, [f"bob@{DOMAIN}"], make_message("via app", "hi", sender=alice.address)
    )
    c.quit()
    assert [m.subject for m in w.door("bob").list_messages().items] == ["via app"]
