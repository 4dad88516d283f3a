"""The composition root: builds store, keys, audit and the door from Settings.

Everything that needs wiring is wired here and nowhere else; front-ends (when they
exist) receive a Runtime and ask it for a MailAccess bound to a Principal.
"""

import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mailward.access import (
    Delegation,
    MailAccess,
    Relaying,
    Restoring,
    Services,
    seal_folders,
    seal_list_fields_as_one,
)
from mailward.audit import AuditLog, VerifyResult, verify_chain
from mailward.auth import (
    AppPasswords,
    Directory,
    LoginCache,
    Logins,
    Passwords,
    SecondFactor,
    Sessions,
)
from mailward.config import Settings, listen_address
from mailward.core.ids import AccountId, MessageId, SessionId
from mailward.core.principal import Principal, Protocol
from mailward.crypto import Keyring, ensure_certificate, load_or_create_master_key, server_context
from mailward.db import Database
from mailward.guard import Guard, Stamp, Switches
from mailward.guard.crossings import CrossingLog
from mailward.imap import ImapBackend
from mailward.incident import Incident, Incidents, Report, build_report
from mailward.incident.notify import Restored, notice_message, notice_text, regulator_summary
from mailward.outbound.relay import Relay, RelayPolicy
from mailward.pop3 import Pop3Backend
from mailward.smtp import SmtpBackend
from mailward.store import FsBlobStore, SqliteBlobStore, SqliteStore
from mailward.web import WebBackend

AUDIT_HEAD_KEY = "audit-head"
SESSION_TOKEN_KEY = "session-token"  # noqa: S105 - the name of a key, not a secret
APP_PASSWORD_KEY = "app-password"  # noqa: S105 - the name of a key, not a secret


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: Database
    keyring: Keyring
    services: Services
    directory: Directory
    logins: Logins
    sessions: Sessions
    switches: Switches
    guard: Guard
    crossings: CrossingLog  # drills' ground truth (written only with inject_fault)
    incidents: Incidents

    @classmethod
    def open(
        cls, settings: Settings, upgrading: Callable[[int, int], None] | None = None
    ) -> "Runtime":
        """Open (and migrate) the data directory. `upgrading(done, total)` is told
        how a start-up conversion of stored rows goes, if one is needed."""
        settings.data.mkdir(parents=True, exist_ok=True)
        db = Database(settings.data / "mailward.db")
        store = SqliteStore(db)
        keyring = Keyring(db, load_or_create_master_key(settings.master_key_path))
        audit = AuditLog(
            db,
            settings.data / "audit.head",
            keyring.service_key(AUDIT_HEAD_KEY),
            enabled=settings.audit,
        )
        services = Services(
            store,
            SqliteBlobStore(db, FsBlobStore(settings.data / "blobs")),
            keyring,
            audit,
            int(settings.retention_days * 86400),
        )
        try:
            seal_list_fields_as_one(services, upgrading)
            seal_folders(services)
        except BaseException:
            audit.close()
            db.close()
            raise
        passwords = Passwords(fast=settings.fast_hashing)
        switches = Switches(settings.data / "guard.json")
        incidents = Incidents(db)
        guard = Guard(
            db,
            audit,
            switches,
            refuse=settings.guard,
            granted=lambda reader, owner: any(
                g.grantee_id == reader and g.revoked_us is None
                for g in store.grants(AccountId(owner))
            ),
            opened=lambda trip, since_us: incidents.opened_by_guard(trip, since_us),
        )
        faults = frozenset(settings.inject_fault)
        crossings = CrossingLog(settings.data / "drill" / "crossings.jsonl")

        def mismatch(owner: str, receiver: str, flag: str, protocol: Protocol, remote: str) -> bool:
            """A session row that is not the token's: a trip; go on only without guard."""
            stamp = Stamp({(owner, "session", "")}, {flag} if faults else set())
            to = (
                Principal(AccountId(receiver), "", SessionId(""), protocol, remote)
                if receiver
                else None
            )
            return guard.check(to, stamp, protocol, remote).send

        return cls(
            settings,
            db,
            keyring,
            services,
            Directory(store, keyring, passwords),
            Logins(
                store, passwords, SecondFactor(store, keyring),
                AppPasswords(store, keyring.service_key(APP_PASSWORD_KEY)), faults=faults,
                crossing=crossings.note, cache=LoginCache(),
            ),
            Sessions(
                store, keyring.service_key(SESSION_TOKEN_KEY), mismatch=mismatch, faults=faults,
                feature=switches.enabled, crossing=crossings.note,
            ),
            switches,
            guard,
            crossings,
            incidents,
        )  # fmt: skip

    @property
    def head_path(self) -> Path:
        return self.services.audit.head_path

    def access(self, principal: Principal) -> MailAccess:
        """The one door, bound to `principal`."""
        return MailAccess(principal, self.services)

    def delegation(self, principal: Principal) -> Delegation:
        return Delegation(principal, self.services)

    def system(self, protocol: Protocol = Protocol.SYSTEM, remote: str = "") -> MailAccess:
        return MailAccess(Principal.system(protocol, remote), self.services)

    def relaying(self, protocol: Protocol = Protocol.SMTP) -> Relaying:
        """The system's door to the outbound queue."""
        return Relaying(Principal.system(protocol), self.services)

    def relay(self) -> Relay:
        """The outbound worker, per the settings (not started)."""
        s = self.settings
        policy = RelayPolicy(
            smarthost=listen_address(s.smarthost) if s.smarthost else None,
            retry_s=s.queue_retry_s,
            lifetime_s=s.queue_lifetime_s,
            hostname=s.server_name,
        )
        return Relay(self.relaying(), policy)

    def tls_context(self) -> ssl.SSLContext:
        """The listeners' TLS context; a self-signed certificate is made on first run
        unless one is configured."""
        cert, key = self.settings.tls_paths
        if self.settings.tls_cert_file is None:
            ensure_certificate(cert, key, self.settings.server_name)
        return server_context(cert, key)

    def web_backend(self, queued: Callable[[], None] = lambda: None) -> WebBackend:
        return WebBackend(
            door=self.access,
            logins=self.logins,
            sessions=self.sessions,
            hostname=self.settings.server_name,
            max_message_bytes=self.settings.max_message_bytes,
            queued=queued,
            system_door=lambda: self.system(Protocol.WEB),
            second_factor=self.logins.second_factor,
            guard=self.guard,
            switches=self.switches,
            faults=frozenset(self.settings.inject_fault),
            admins=frozenset(self.settings.admins),
            crossing=self.crossings.note,
        )

    def smtp_backend(self, queued: Callable[[], None] = lambda: None) -> SmtpBackend:
        return SmtpBackend(
            system_door=self.system,
            door=self.access,
            logins=self.logins,
            hostname=self.settings.server_name,
            max_message_bytes=self.settings.max_message_bytes,
            tls=self.tls_context(),
            queued=queued,
            stopped=lambda scope: self.switches.engaged(scope) is not None,
        )

    def guard_check(self, protocol: Protocol) -> Callable[[Principal, Sequence[object], str], bool]:
        """The response guard for a protocol whose replies are built from door
        objects (IMAP, POP3): every object's owner must be the principal's account
        (or have granted it); otherwise the guard trips (recorded, contained) and
        nothing is sent."""

        def check(principal: Principal, objects: Sequence[object], part: str) -> bool:
            receiver = principal.receiver or principal.account_id
            owners = {getattr(o, "owner", "") for o in objects}
            if owners <= {receiver}:
                return True
            stamp = Stamp()
            stamp.add(list(objects), part)
            return self.guard.check(principal, stamp, protocol, principal.remote).send

        return check

    def imap_backend(self) -> ImapBackend:
        return ImapBackend(
            door=self.access,
            logins=self.logins,
            hostname=self.settings.server_name,
            tls=self.tls_context(),
            plaintext_login=self.settings.plaintext_login,
            stopped=lambda: self.switches.engaged("imap") is not None,
            check=self.guard_check(Protocol.IMAP),
        )

    def pop3_backend(self) -> Pop3Backend:
        return Pop3Backend(
            door=self.access,
            logins=self.logins,
            hostname=self.settings.server_name,
            tls=self.tls_context(),
            plaintext_login=self.settings.plaintext_login,
            stopped=lambda: self.switches.engaged("pop3") is not None,
            check=self.guard_check(Protocol.POP3),
            lock_dir=self.settings.data / "locks" / "pop3",
        )

    def verify_audit(self, progress: Callable[[int, int], None] | None = None) -> VerifyResult:
        self.services.audit.flush_head()
        return verify_chain(
            self.db, self.head_path, self.keyring.service_key(AUDIT_HEAD_KEY), progress
        )

    def incident_report(
        self,
        since_us: int,
        until_us: int,
        incident: Incident | None = None,
        progress: Callable[[str, int, int], None] = lambda step, done, total: None,
    ) -> Report:
        """The exposure report of [since_us, until_us); opens (or reuses) the
        window's incident unless one is given."""
        self.services.audit.flush_head()
        store = self.services.store
        addresses = {str(a.id): a.address for a in store.accounts()}

        def restorable(owner: str, item: str, action: str) -> bool:
            if action == "expunge":
                return store.tombstone(AccountId(owner), MessageId(item)) is not None
            if action in ("flag", "move", "delete"):
                return store.message(AccountId(owner), MessageId(item)) is not None
            return False

        if incident is None:
            incident = self.incidents.open(since_us, until_us)
        report = build_report(
            self.db, self.head_path, self.keyring.service_key(AUDIT_HEAD_KEY), since_us,
            until_us, addresses, restorable, progress,
        )  # fmt: skip
        report.incident = incident.id
        return report

    def name_attachments(self, report: Report) -> None:
        """Look up the file names of the attachments the report says were exposed
        (the messages are opened with their owners' keys; each lookup recorded)."""
        if report.incident is None:
            return
        door = Restoring(Principal.system(Protocol.CLI), self.services)
        for owner, items in report.attachments_exposed().items():
            found = door.attachment_names(
                AccountId(owner), [MessageId(i) for i in items], report.incident
            )
            for item, names in found.items():
                report.attachment_names[(owner, str(item))] = names

    def incident_notify(
        self,
        incident_id: int,
        out_dir: Path,
        progress: Callable[[int, int], None] = lambda done, total: None,
    ) -> tuple[int, int, Path]:
        """Notify every affected account of the incident once (a notice in its INBOX)
        and write the regulator's summary; returns (sent now, sent before, summary)."""
        incident = self.incidents.get(incident_id)
        since, until = incident.window()
        report = self.incident_report(since, until, incident)
        self.name_attachments(report)
        s = self.settings
        base = (s.public_url or f"http://{s.web}").rstrip("/")
        already = self.incidents.notified(incident.id)
        refused: dict[str, int] = {}
        for r in report.refused:
            refused[r.owner_id] = refused.get(r.owner_id, 0) + 1
        sent = 0
        system = self.system(Protocol.CLI)
        door = Restoring(Principal.system(Protocol.CLI), self.services)
        sender = f"security@{s.server_name}"
        accounts = sorted(report.accounts.values(), key=lambda a: a.address)
        for n, account in enumerate(accounts, 1):
            progress(n, len(accounts))
            if account.account_id in already:
                continue
            restored = [
                Restored(*r) for r in self.incidents.restores(incident.id, account.account_id)
            ]
            text = notice_text(
                report, account, base_url=base, name_actors=s.notices_name_actors,
                restored=restored, refused=refused.get(account.account_id, 0),
            )  # fmt: skip
            raw = notice_message(sender, account.address, incident.id, text, s.server_name)
            outside = self.services.store.notice_address(AccountId(account.account_id))
            with self.db.write():  # the notices and their mark: all or nothing
                self.incidents.mark_notified(incident.id, account.account_id)
                system.deliver([account.address], raw)
                if outside is not None:
                    door.queue_notice(
                        AccountId(account.account_id), sender,
                        outside, notice_message(sender, outside, incident.id, text, s.server_name),
                        incident.id,
                    )  # fmt: skip
            sent += 1
        measures = [
            f"{datetime.fromtimestamp(e.at_us / 1e6, UTC):%Y-%m-%d %H:%M:%S} UTC: {e.detail}"
            for e in reversed(self.guard.events(10_000))
            if e.kind in ("rollback", "killswitch") and since <= e.at_us < until
        ]
        out_dir.mkdir(parents=True, exist_ok=True)
        summary = out_dir / "regulator-summary.md"
        notified = len(self.incidents.notified(incident.id))
        summary.write_text(regulator_summary(report, measures, notified), encoding="utf-8")
        return sent, len(already), summary

    def incident_restore(
        self, incident_id: int, progress: Callable[[int, int], None] = lambda done, total: None
    ) -> list[tuple[str, str, str, str]]:
        """Undo every change someone other than the owner made in the incident's
        window (latest first), once; returns (account, item, change, outcome) for
        each change handled now."""
        incident = self.incidents.get(incident_id)
        since, until = incident.window()
        report = self.incident_report(since, until, incident)
        done = self.incidents.restored_keys(incident.id)
        restoring = Restoring(Principal.system(Protocol.CLI), self.services)
        todo = sorted(
            ((a, c) for a in report.accounts.values() for c in a.changes),
            key=lambda ac: -ac[1].at_us,
        )
        out = []
        for n, (a, c) in enumerate(todo, 1):
            key = (a.account_id, c.message_id, c.action, c.at_us)
            if key in done:
                continue
            try:
                with self.db.write():  # the undo and its mark: both or neither
                    outcome = restoring.undo(
                        AccountId(a.account_id), MessageId(c.message_id), c.action, c.mailbox,
                        c.detail, incident.id,
                    )  # fmt: skip
                    self.incidents.mark_restore(incident.id, *key, outcome)
            finally:  # what it refused stays recorded even if its unit did not commit
                restoring.write_refusals()
            out.append((a.address, c.message_id, c.action, outcome))
            progress(n, len(todo))
        return out

    def purge_expired(self, now_s: float | None = None) -> int:
        """Drop tombstones (and their blobs) past the retention window."""
        now_us = int((time.time() if now_s is None else now_s) * 1_000_000)
        store, blobs = self.services.store, self.services.blobs
        expired = store.expired_tombstones(now_us)
        for account_id, item in expired:
            store.drop_tombstone(account_id, item)
            blobs.delete(account_id, item)
        return len(expired)

    def close(self) -> None:
        self.services.audit.close()
        self.db.close()
