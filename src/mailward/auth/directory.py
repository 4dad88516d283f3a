"""Domains and accounts. Creating an account creates its key and its mailboxes."""

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from mailward.auth.passwords import MAX_PASSWORD, MIN_PASSWORD, Passwords
from mailward.core.account import Account, Domain
from mailward.core.errors import InvalidInput, NotFound
from mailward.core.ids import DomainId, new_account_id, new_domain_id, new_mailbox_id
from mailward.core.mailbox import P_FOLDER, SPECIAL_MAILBOXES
from mailward.crypto import Keyring
from mailward.store import AccountRow, MailStore

# A deliberately plain address grammar: dot-atom local part, lower-cased ASCII.
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, UTC)


def normalize_domain(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    if not _DOMAIN.match(name):
        raise InvalidInput(f"invalid domain name {name!r}")
    return name


def normalize_address(address: str) -> tuple[str, str]:
    """Return (address, domain), lower-cased. Raises InvalidInput."""
    address = address.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or len(local) > 64 or not _LOCAL.match(local):
        raise InvalidInput(f"invalid address {address!r}")
    return f"{local}@{normalize_domain(domain)}", normalize_domain(domain)


@dataclass(slots=True)
class Directory:
    store: MailStore
    keyring: Keyring
    passwords: Passwords

    def add_domain(self, name: str) -> Domain:
        name = normalize_domain(name)
        domain_id = new_domain_id()
        self.store.add_domain(domain_id, name)
        return Domain(domain_id, name, datetime.now(UTC))

    def domains(self) -> list[Domain]:
        return [Domain(i, n, _dt(c)) for i, n, c in self.store.domains()]

    def set_notice_address(self, address: str, external: str | None) -> None:
        """Where else `address` is told about an incident (None: nowhere else).

        Raises:
            NotFound: no such account. InvalidInput: `external` is not an address.
        """
        account = self.store.account_by_address(normalize_address(address)[0])
        if account is None:
            raise NotFound("no such account")
        if external is not None:
            external = normalize_address(external)[0]
        self.store.set_notice_address(account.id, external)

    def add_user(self, address: str, password: str) -> Account:
        """Create an account with its data key and its special mailboxes.

        Raises:
            InvalidInput: bad address or password.
            NotFound: the domain is not a local domain.
            Conflict: the address exists.
        """
        address, domain = normalize_address(address)
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        domain_id: DomainId | None = self.store.domain_id(domain)
        if domain_id is None:
            raise NotFound(f"{domain} is not a local domain (mailward domain add {domain})")
        row = AccountRow(
            new_account_id(),
            address,
            domain_id,
            self.passwords.hash(password),
            time.time_ns() // 1000,
            False,
        )
        with self.store.transaction():
            self.store.add_account(row)
            self.keyring.create_key(row.id)
            sealer = self.keyring.sealer(row.id)
            for name, use in SPECIAL_MAILBOXES:
                box_id = new_mailbox_id()
                seal = sealer.seal_text(box_id, P_FOLDER, name)
                self.store.create_mailbox(row.id, box_id, name, use.value if use else None, seal)
        return Account(row.id, row.address, row.domain_id, _dt(row.created_us))

    def users(self) -> list[Account]:
        return [
            Account(r.id, r.address, r.domain_id, _dt(r.created_us), r.disabled)
            for r in self.store.accounts()
        ]

    def user(self, address: str) -> Account:
        row = self.store.account_by_address(address.strip().lower())
        if row is None:
            raise NotFound(f"no account {address}")
        return Account(row.id, row.address, row.domain_id, _dt(row.created_us), row.disabled)
