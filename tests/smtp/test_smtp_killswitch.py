"""While the kill switch stops SMTP, mail is tempfailed (421), never refused for
good: senders keep it and retry, and after release it is delivered."""

import smtplib

import pytest
from smtp_support import Server

from support import DOMAIN, PASSWORD, make_message


def _count(server: Server, name: str = "alice") -> int:
    return len(server.world.door(name).list_messages().items)


def test_mx_tempfails_while_engaged_and_delivers_after_release(server: Server) -> None:
    raw = make_message("kept by the sender", "retry me")
    server.world.rt.switches.engage("smtp-in", "test", "drill")
    with server.client() as c, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        c.sendmail("someone@elsewhere.test", [f"alice@{DOMAIN}"], raw)
    ((code, _),) = refused.value.recipients.values()
    assert code == 421  # temporary: the sender queues and retries
    assert _count(server) == 0
    server.world.rt.switches.release("smtp-in")
    with server.client() as c:
        c.sendmail("someone@elsewhere.test", [f"alice@{DOMAIN}"], raw)
    assert _count(server) == 1


def test_a_transaction_in_flight_is_tempfailed_at_its_end(server: Server) -> None:
    c = server.client()
    c.ehlo()
    assert c.mail("someone@elsewhere.test")[0] == 250
    assert c.rcpt(f"alice@{DOMAIN}")[0] == 250
    server.world.rt.switches.engage("smtp-in", "test", "drill")  # mid-transaction
    code, _ = c.data(make_message("in flight", "x"))  # the reply after the content
    assert code == 421
    c.close()
    assert _count(server) == 0
    server.world.rt.switches.release("smtp-in")


def test_submission_scope_stops_submission_only(server: Server) -> None:
    server.world.rt.switches.engage("submission", "test", "drill")
    c = server.login(f"bob@{DOMAIN}", PASSWORD)
    code, _ = c.mail(f"bob@{DOMAIN}")
    assert code == 421
    c.close()
    with server.client() as mx:  # the MX keeps receiving
        mx.sendmail("someone@elsewhere.test", [f"alice@{DOMAIN}"], make_message("s", "b"))
    assert _count(server) == 1
