"""The outbound queue: mail for foreign recipients relayed through a loopback
smarthost (an aiosmtpd sink), retried after a temporary failure, bounced (RFC 3464)
after a permanent one or once it expires."""

import dataclasses
import email
import socket
import time
from email.policy import default
from pathlib import Path

import pytest
from smtp_support import Sink

from mailward.audit.query import all_records
from mailward.cli import main
from support import DOMAIN, World, build_world, make_message

ALICE = f"alice@{DOMAIN}"


def world_with(tmp_path: Path, smarthost: tuple[str, int]) -> World:
    return build_world(
        tmp_path / "data",
        hostname="mx.example.test",
        smarthost=f"{smarthost[0]}:{smarthost[1]}",
        queue_retry_s=60.0,
        queue_lifetime_s=3600.0,
    )


def submit(w: World, *rcpts: str, subject: str = "to a friend") -> None:
    msg = make_message(subject, "the body text", sender=ALICE, to=rcpts[0])
    w.door("alice").submit(ALICE, list(rcpts), msg)


def bounces(w: World) -> list[email.message.EmailMessage]:
    door = w.door("alice")
    out = []
    for m in door.list_messages("INBOX").items:
        msg = email.message_from_bytes(door.get_raw(m.id).data, policy=default)
        assert isinstance(msg, email.message.EmailMessage)
        out.append(msg)
    return out


def test_foreign_mail_is_handed_to_the_smarthost(
    tmp_path: Path, smarthost: tuple[Sink, tuple[str, int]]
) -> None:
    sink, address = smarthost
    w = world_with(tmp_path, address)
    submit(w, "friend@foreign.test")
    assert w.rt.relay().run_once() == 1
    ((mail_from, rcpts, data),) = sink.received
    assert (mail_from, rcpts) == (ALICE, ["friend@foreign.test"])
    assert b"the body text" in data
    assert w.rt.relaying().entries() == []
    relayed = [r for r in all_records(w.rt.db) if r.action == "relay"]
    assert len(relayed) == 1 and relayed[0].owner_account == w.users["alice"].account_id
    assert bounces(w) == []
    w.rt.close()


def test_temporary_failure_is_retried_with_backoff(
    tmp_path: Path, smarthost: tuple[Sink, tuple[str, int]]
) -> None:
    sink, address = smarthost
    w = world_with(tmp_path, address)
    sink.replies = ["451 4.3.0 try again later"]
    submit(w, "friend@foreign.test")
    relay = w.rt.relay()
    now = time.time()
    assert relay.run_once(now) == 1
    (entry,) = w.rt.relaying().entries()
    assert entry.attempts == 1 and entry.pending == ["friend@foreign.test"]
    assert "451" in entry.recipients[0].detail
    assert entry.next_attempt_us == pytest.approx((now + 60) * 1e6, abs=2e6)
    assert relay.run_once(now + 30) == 0  # not due yet
    assert relay.run_once(now + 61) == 1
    assert len(sink.received) == 1 and w.rt.relaying().entries() == []
    assert bounces(w) == []
    w.rt.close()


def test_permanent_failure_bounces_to_the_sender(
    tmp_path: Path, smarthost: tuple[Sink, tuple[str, int]]
) -> None:
    sink, address = smarthost
    w = world_with(tmp_path, address)
    sink.rcpt_replies["gone@foreign.test"] = "550 5.1.1 <gone@foreign.test>: no such user"
    submit(w, "gone@foreign.test", "friend@foreign.test", subject="party")
    assert w.rt.relay().run_once() == 1
    assert [r for _f, r, _d in sink.received] == [["friend@foreign.test"]]
    assert w.rt.relaying().entries() == []
    (dsn,) = bounces(w)
    assert dsn["Subject"] == "Undelivered Mail Returned to Sender"
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    text = dsn.as_string()
    assert "gone@foreign.test" in text and "5.1.1" in text
    assert (
        "friend@foreign.test"
        not in text.split("message/delivery-status", 1)[1].split("text/rfc822-headers")[0]
    )  # only the failed recipient is reported
    assert "Subject: party" in text and "the body text" not in text
    w.rt.close()


def test_unreachable_smarthost_expires_into_a_bounce(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w = world_with(tmp_path, ("127.0.0.1", port))
    submit(w, "friend@foreign.test")
    relay = w.rt.relay()
    now = time.time()
    relay.run_once(now)
    (entry,) = w.rt.relaying().entries()
    assert entry.pending and "4.4.1" in entry.recipients[0].detail
    relay.run_once(now + 3601)  # past the lifetime
    assert w.rt.relaying().entries() == []
    (dsn,) = bounces(w)
    assert "4.4.7" in dsn.as_string()
    w.rt.close()


def test_a_bounce_is_never_bounced(tmp_path: Path, smarthost: tuple[Sink, tuple[str, int]]) -> None:
    from mailward.access import QueuedMail

    sink, address = smarthost
    w = world_with(tmp_path, address)
    sink.rcpt_replies["gone@foreign.test"] = "550 5.1.1 no such user"
    submit(w, "gone@foreign.test")
    door = w.rt.relaying()
    (entry,) = door.entries()
    assert isinstance(entry, QueuedMail)
    door.update(dataclasses.replace(entry, mail_from=""), 0, 0)  # as if it were a DSN
    w.rt.relay().run_once()
    assert w.rt.relaying().entries() == [] and bounces(w) == []
    w.rt.close()


def test_queue_cli_lists_flushes_and_deletes(
    tmp_path: Path,
    smarthost: tuple[Sink, tuple[str, int]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink, address = smarthost
    w = world_with(tmp_path, address)
    submit(w, "friend@foreign.test", subject="first")
    submit(w, "other@foreign.test", subject="second")
    data = str(w.rt.settings.data)
    ids = [q.id for q in w.rt.relaying().entries()]
    w.rt.close()
    monkeypatch.setenv("MAILWARD_SMARTHOST", f"{address[0]}:{address[1]}")
    assert main(["--data", data, "queue", "list"]) == 0
    listed = capsys.readouterr().out
    assert "friend@foreign.test  pending" in listed and "other@foreign.test  pending" in listed
    assert main(["--data", data, "queue", "delete", ids[0]]) == 0
    assert main(["--data", data, "queue", "delete", "q-no-such"]) == 1
    assert main(["--data", data, "queue", "flush"]) == 0
    assert [r for _f, r, _d in sink.received] == [["other@foreign.test"]]


def test_end_to_end_submission_to_smarthost(
    tmp_path: Path, smarthost: tuple[Sink, tuple[str, int]]
) -> None:
    """smtplib submits over STARTTLS+AUTH; the relay thread, woken by the
    submission, hands the message to the sink."""
    from smtp_support import start_server

    from support import PASSWORD

    sink, address = smarthost
    w = world_with(tmp_path, address)
    relay = w.rt.relay()
    server = start_server(w)
    server.backend.queued = relay.wake
    relay.start(interval_s=30)
    try:
        with server.login(ALICE, PASSWORD) as c:
            msg = make_message("over the wire", "relayed body", sender=ALICE, to="far@foreign.test")
            c.sendmail(ALICE, ["far@foreign.test"], msg)
        deadline = time.monotonic() + 20
        while not sink.received and time.monotonic() < deadline:
            time.sleep(0.05)
        ((mail_from, rcpts, data),) = sink.received
        assert (mail_from, rcpts) == (ALICE, ["far@foreign.test"])
        assert b"relayed body" in data and b"with ESMTPSA" in data
    finally:
        relay.stop()
        server.stop()
        w.rt.close()


def test_a_bounce_is_not_filed_in_an_inbox_row_that_is_not_the_senders(
    tmp_path: Path, smarthost: tuple[Sink, tuple[str, int]]
) -> None:
    from mailward.access.relaying import BOUNCE_RETRY_S

    sink, address = smarthost
    w = world_with(tmp_path, address)
    sink.rcpt_replies["gone@foreign.test"] = "550 5.1.1 <gone@foreign.test>: no such user"
    submit(w, "gone@foreign.test")
    alice = w.users["alice"].account_id
    inbox = "SELECT {} FROM mailboxes WHERE name = 'INBOX' AND account_id = ?"
    (own_seal,) = w.rt.db.read().execute(inbox.format("seal"), (alice,)).fetchone()
    with w.rt.db.write() as c:  # alice's INBOX row carrying bob's INBOX seal (a wrong join)
        c.execute(
            "UPDATE mailboxes SET seal = (SELECT seal FROM mailboxes WHERE name = 'INBOX'"
            " AND account_id = ?) WHERE name = 'INBOX' AND account_id = ?",
            (w.users["bob"].account_id, alice),
        )
    relay, now = w.rt.relay(), time.time()
    assert relay.run_once(now) == 1
    assert len(w.rt.relaying().entries()) == 1  # kept, not dropped
    (box,) = w.rt.db.read().execute(inbox.format("id"), (alice,)).fetchone()
    in_inbox = "SELECT count(*) FROM messages WHERE mailbox_id = ?"
    assert w.rt.db.read().execute(in_inbox, (box,)).fetchone() == (0,)
    refused = [r for r in all_records(w.rt.db) if r.outcome == "refused"]
    assert [(r.action, r.actor_account) for r in refused] == [("deliver", "system")]
    with w.rt.db.write() as c:  # put right: the next try files the bounce
        c.execute("UPDATE mailboxes SET seal = ? WHERE id = ?", (own_seal, box))
    assert relay.run_once(now + 60) == 0  # not before BOUNCE_RETRY_S
    assert relay.run_once(now + BOUNCE_RETRY_S + 60) == 1
    assert w.rt.relaying().entries() == []
    (dsn,) = bounces(w)
    assert "5.1.1" in dsn.as_string()
    w.rt.close()
