"""Settings: flag > environment (MAILWARD_*) > config file > default, one typed object.

The config file is `mailward.toml` in the data directory (or MAILWARD_CONFIG), with
top-level keys named like the fields below.
"""

import os
import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailward.core.errors import InvalidInput
from mailward.core.faults import FAULTS


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the runtime needs to know.

    Attributes:
        data: the data directory (database, blobs, master key, audit head).
        master_key_file: defaults to `<data>/master.key`.
        retention_days: how long tombstones of expunged items are kept.
        audit: record accesses (off only for benchmarks measuring its cost).
        fast_hashing: cheap argon2 parameters, for tests and demo data only.
        web, smtp, submission, imap, pop3: listener addresses "HOST:PORT", or "off".
        plaintext_login: let IMAP LOGIN and POP3 USER/PASS through without TLS
            from loopback clients (tests, local tools); otherwise only after
            STARTTLS/STLS (RFC 9051 §6.2.3, RFC 2595 §2).
        hostname: this service's name in greetings and Received: fields
            ("" = the machine's).
        max_message_bytes: the largest message accepted (announced as SIZE).
        tls_cert_file, tls_key_file: the listeners' certificate; default: a
            self-signed one made on first run in `<data>/tls/`.
        smarthost: "HOST:PORT" that relays mail for foreign domains ("" = none:
            such mail waits in the queue).
        queue_retry_s: the first retry delay; it doubles after each temporary
            failure, up to an hour.
        queue_lifetime_s: how long a message is retried before it bounces.
        guard: refuse responses carrying another account's data (False only for
            drills: `serve --no-guard`; what leaves is still recorded).
        inject_fault: drill fault classes to make live (core/faults.py).
        admins: addresses allowed on the containment page (/admin), comma-separated.
        public_url: how users reach the web mail (links in notices); default
            http://<web listener>.
        notices_name_actors: incident notices name the other account (policy;
            default: "another user").
    """

    data: Path = Path("mailward-data")
    master_key_file: Path | None = None
    retention_days: float = 30.0
    audit: bool = True
    fast_hashing: bool = False
    web: str = "127.0.0.1:8025"
    smtp: str = "127.0.0.1:2525"
    submission: str = "127.0.0.1:2587"
    imap: str = "127.0.0.1:2143"
    pop3: str = "127.0.0.1:2110"
    plaintext_login: bool = False
    hostname: str = ""
    max_message_bytes: int = 25 * 1024 * 1024
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    smarthost: str = ""
    queue_retry_s: float = 300.0
    queue_lifetime_s: float = 5 * 86400.0
    guard: bool = True
    inject_fault: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    public_url: str = ""
    notices_name_actors: bool = False

    @property
    def master_key_path(self) -> Path:
        return self.master_key_file or self.data / "master.key"

    @property
    def tls_paths(self) -> tuple[Path, Path]:
        return (
            self.tls_cert_file or self.data / "tls" / "cert.pem",
            self.tls_key_file or self.data / "tls" / "key.pem",
        )

    @property
    def server_name(self) -> str:
        return self.hostname or socket.getfqdn()


def listen_address(value: str) -> tuple[str, int] | None:
    """ "HOST:PORT" -> (host, port); "off" -> None.

    Raises:
        InvalidInput: anything else.
    """
    if value.strip().lower() == "off":
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(f"listener address must be HOST:PORT or off, not {value!r}")
    return host.strip("[]"), int(port)


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in {"1", "true", "yes", "on"}


# Field name -> how to read it from a string (env) or a TOML value.
def _faults(raw: Any) -> tuple[str, ...]:
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    faults = tuple(n.strip() for n in names if n.strip())
    for name in faults:
        if name not in FAULTS:
            raise InvalidInput(f"unknown fault {name!r}: one of {', '.join(FAULTS)}")
    return faults


_READERS: dict[str, Any] = {
    "master_key_file": lambda v: Path(str(v)),
    "retention_days": float,
    "audit": _bool,
    "fast_hashing": _bool,
    "web": str,
    "smtp": str,
    "submission": str,
    "imap": str,
    "pop3": str,
    "plaintext_login": _bool,
    "hostname": str,
    "max_message_bytes": int,
    "tls_cert_file": lambda v: Path(str(v)),
    "tls_key_file": lambda v: Path(str(v)),
    "smarthost": str,
    "queue_retry_s": float,
    "queue_lifetime_s": float,
    "guard": _bool,
    "inject_fault": _faults,
    "public_url": str,
    "notices_name_actors": _bool,
    "admins": lambda v: tuple(a.strip().lower() for a in str(v).split(",") if a.strip()),
}


def load_settings(
    flags: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Settings:
    """Resolve settings from flags, the environment and the config file."""
    env = dict(os.environ if env is None else env)
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    data = Path(flags.get("data") or env.get("MAILWARD_DATA") or "mailward-data")
    config_path = Path(env.get("MAILWARD_CONFIG") or data / "mailward.toml")
    file_values: dict[str, Any] = {}
    if config_path.exists():
        try:
            file_values = tomllib.loads(config_path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{config_path}: {exc}") from None
    values: dict[str, Any] = {"data": data}
    for name, read in _READERS.items():
        env_name = "MAILWARD_" + name.upper()
        for source, key in ((flags, name), (env, env_name), (file_values, name)):
            if key in source:
                try:
                    values[name] = read(source[key])
                except (TypeError, ValueError):
                    raise InvalidInput(f"setting {name}: cannot read {source[key]!r}") from None
                break
    settings = Settings(**values)
    for name in ("web", "smtp", "submission", "imap", "pop3"):
        listen_address(getattr(settings, name))  # fail at start, with the setting named
    if settings.smarthost:
        listen_address(settings.smarthost)
    if settings.max_message_bytes < 1024:
        raise InvalidInput("max_message_bytes must be at least 1024")
    return settings
