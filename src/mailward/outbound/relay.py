"""Relaying queued mail through the smarthost: one attempt per due entry,
per-recipient outcomes, retries with exponential backoff, and a bounce (RFC 3464)
to the sender once every recipient is done and one failed.

Classification (RFC 5321 §4.2.1): 2yz sent; 4yz and connection trouble: try again
later; 5yz: failed for good. A recipient still pending when the entry has been
queued longer than the lifetime fails with 4.4.7 (RFC 3463: delivery time expired).
"""

import logging
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from mailward.access import QueuedMail, QueuedRecipient, RecipientStatus, Relaying, Unopenable
from mailward.outbound.dsn import RecipientFailure, build_dsn, is_bounce

log = logging.getLogger("mailward.outbound")

MAX_BACKOFF_S = 3600.0
CONNECT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """Attributes:
    smarthost: (host, port), or None: nothing is sent, entries wait (and expire).
    retry_s: delay after the first temporary failure; doubles each time.
    lifetime_s: how long an entry is retried before its pending recipients fail.
    hostname: our name (EHLO, the DSN's Reporting-MTA).
    """

    smarthost: tuple[str, int] | None
    retry_s: float
    lifetime_s: float
    hostname: str
    starttls: bool = True


def backoff_s(policy: RelayPolicy, attempts: int) -> float:
    return float(min(policy.retry_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S))


def _enhanced(code: int, message: str) -> str:
    first = message.split(" ", 1)[0]
    parts = first.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and first[0] in "245":
        return first
    return f"{code // 100}.0.0"


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"[:300]


def _outcome(code: int, text: str) -> tuple[RecipientStatus, str, str]:
    """(status, reply, enhanced code) for a reply `text` ("550 5.1.1 ...")."""
    enhanced = _enhanced(code, text.split(" ", 1)[1] if " " in text else "")
    if 200 <= code < 300:
        return RecipientStatus.SENT, text, enhanced
    if 500 <= code < 600:
        return RecipientStatus.FAILED, text, enhanced
    return RecipientStatus.PENDING, text, enhanced


def send(policy: RelayPolicy, q: QueuedMail, raw: bytes) -> dict[str, tuple[int, str]]:
    """One SMTP transaction with the smarthost for q's pending recipients.

    Returns (code, reply) per recipient; a failure of the whole transaction gives
    every recipient that reply (connection errors: 451).
    """
    assert policy.smarthost is not None
    pending = q.pending
    host, port = policy.smarthost
    try:
        with smtplib.SMTP(
            host, port, local_hostname=policy.hostname, timeout=CONNECT_TIMEOUT_S
        ) as c:
            c.ehlo()
            if policy.starttls and c.has_extn("starttls"):
                ctx = ssl.create_default_context()
                # The smarthost is configured by the operator; its certificate is
                # checked unless it is on loopback (tests, a local relay).
                if host in {"127.0.0.1", "::1", "localhost"}:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                c.starttls(context=ctx)
                c.ehlo()
            refused = c.sendmail(q.mail_from, pending, raw)
    except smtplib.SMTPRecipientsRefused as exc:
        return {r: (int(code), _reply_text(code, msg)) for r, (code, msg) in exc.recipients.items()}
    except smtplib.SMTPResponseException as exc:
        return {r: (exc.smtp_code, _reply_text(exc.smtp_code, exc.smtp_error)) for r in pending}
    except (OSError, smtplib.SMTPException) as exc:
        text = f"451 4.4.1 smarthost {host}:{port}: {exc}"
        return {r: (451, text) for r in pending}
    out = {r: (250, "250 2.0.0 accepted by the smarthost") for r in pending}
    for r, (code, msg) in refused.items():
        out[r] = (int(code), _reply_text(code, msg))
    return out


class Relay:
    """The outbound worker: `run_once` does one pass; `start` runs passes in a
    thread until `stop`, waking early when `wake` is called."""

    def __init__(self, door: Relaying, policy: RelayPolicy) -> None:
        self.door = door
        self.policy = policy
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now_s: float | None = None) -> int:
        """Attempt every due entry once; returns how many were attempted."""
        now_s = time.time() if now_s is None else now_s
        done = 0
        for q in self.door.due(int(now_s * 1_000_000)):
            if isinstance(q, Unopenable):
                log.error("queue entry %s of %s does not open: %s", q.id, q.owner, q.reason)
                continue
            self._attempt(q, now_s)
            done += 1
        return done

    def _attempt(self, q: QueuedMail, now_s: float) -> None:
        results: dict[str, tuple[int, str]] = {}
        if self.policy.smarthost is not None and q.pending:
            results = send(self.policy, q, self.door.message(q))
        recipients = []
        expired = now_s - q.created_us / 1e6 >= self.policy.lifetime_s
        for r in q.recipients:
            if r.status != RecipientStatus.PENDING:
                recipients.append(r)
                continue
            if r.address in results:
                status, detail, enhanced = _outcome(*results[r.address])
            else:
                status, detail, enhanced = RecipientStatus.PENDING, "no smarthost set", "4.4.1"
            if status == RecipientStatus.PENDING and expired:
                status, enhanced = RecipientStatus.FAILED, "4.4.7"
                detail = f"{detail} (retried until the message expired)"
            recipients.append(replace(r, status=status, detail=detail, enhanced=enhanced))
        q = q.with_recipients(tuple(recipients))
        attempts = q.attempts + 1
        if q.pending:
            delay = backoff_s(self.policy, attempts)
            self.door.update(q, attempts, int((now_s + delay) * 1_000_000))
            return
        failed = [r for r in q.recipients if r.status == RecipientStatus.FAILED]
        bounce = None
        if failed and not is_bounce(q.mail_from):
            bounce = self._bounce(q, failed, now_s)
        if not self.door.finish(q, bounce):
            log.error("queue entry %s of %s: the sender's INBOX was refused; kept", q.id, q.owner)

    def _bounce(self, q: QueuedMail, failed: list[QueuedRecipient], now_s: float) -> bytes:
        try:
            original = self.door.message(q)
        except Exception:  # noqa: BLE001 - a bounce without the original's headers
            original = b""
        when = datetime.fromtimestamp(now_s, UTC)
        return build_dsn(
            reporting_mta=self.policy.hostname,
            envelope_from=q.mail_from,
            original=original,
            failures=[
                RecipientFailure(
                    recipient=r.address,
                    status=r.enhanced or "5.0.0",
                    diagnostic=f"smtp; {r.detail}",
                    remote_mta=f"dns; {self.policy.smarthost[0]}" if self.policy.smarthost else "",
                    last_attempt=when,
                )
                for r in failed
            ],
            arrival=datetime.fromtimestamp(q.created_us / 1e6, UTC),
            now=when,
        )

    # -- the worker thread --------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self, interval_s: float = 30.0) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except Exception:
                    log.exception("outbound queue pass failed")
                self._wake.wait(interval_s)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="outbound-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=CONNECT_TIMEOUT_S + 5)
