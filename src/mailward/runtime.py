"""The composition root: builds store, keys, audit and the door from Settings.

Everything that needs wiring is wired here and nowhere else; front-ends (when they
exist) receive a Runtime and ask it for a MailAccess bound to a Principal.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mailward.access import Delegation, MailAccess, Services
from mailward.audit import AuditLog, VerifyResult, verify_chain
from mailward.auth import Directory, Logins, Passwords
from mailward.config import Settings
from mailward.core.principal import Principal
from mailward.crypto import Keyring, load_or_create_master_key
from mailward.db import Database
from mailward.store import FsBlobStore, SqliteBlobStore, SqliteStore

AUDIT_HEAD_KEY = "audit-head"


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: Database
    keyring: Keyring
    services: Services
    directory: Directory
    logins: Logins

    @classmethod
    def open(cls, settings: Settings) -> "Runtime":
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
        passwords = Passwords(fast=settings.fast_hashing)
        return cls(
            settings,
            db,
            keyring,
            services,
            Directory(store, keyring, passwords),
            Logins(store, passwords),
        )

    @property
    def head_path(self) -> Path:
        return self.services.audit.head_path

    def access(self, principal: Principal) -> MailAccess:
        """The one door, bound to `principal`."""
        return MailAccess(principal, self.services)

    def delegation(self, principal: Principal) -> Delegation:
        return Delegation(principal, self.services)

    def system(self) -> MailAccess:
        return MailAccess(Principal.system(), self.services)

    def verify_audit(self, progress: Callable[[int, int], None] | None = None) -> VerifyResult:
        return verify_chain(
            self.db, self.head_path, self.keyring.service_key(AUDIT_HEAD_KEY), progress
        )

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
