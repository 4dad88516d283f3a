"""Settings: flag > environment (MAILWARD_*) > config file > default, one typed object.

The config file is `mailward.toml` in the data directory (or MAILWARD_CONFIG), with
top-level keys named like the fields below.
"""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailward.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the runtime needs to know.

    Attributes:
        data: the data directory (database, blobs, master key, audit head).
        master_key_file: defaults to `<data>/master.key`.
        retention_days: how long tombstones of expunged items are kept.
        audit: record accesses (off only for benchmarks measuring its cost).
        fast_hashing: cheap argon2 parameters, for tests and demo data only.
    """

    data: Path = Path("mailward-data")
    master_key_file: Path | None = None
    retention_days: float = 30.0
    audit: bool = True
    fast_hashing: bool = False

    @property
    def master_key_path(self) -> Path:
        return self.master_key_file or self.data / "master.key"


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in {"1", "true", "yes", "on"}


# Field name -> how to read it from a string (env) or a TOML value.
_READERS: dict[str, Any] = {
    "master_key_file": lambda v: Path(str(v)),
    "retention_days": float,
    "audit": _bool,
    "fast_hashing": _bool,
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
    return Settings(**values)
