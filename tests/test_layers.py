"""The layer rule of DESIGN.md is enforced for every front-end that exists."""

import tomllib
from pathlib import Path

import mailward

FRONT_ENDS = ("web", "imap", "pop3", "smtp")


def test_every_front_end_is_under_the_forbidden_contract() -> None:
    root = Path(mailward.__file__).parent
    config = tomllib.loads((root.parents[1] / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")
    assert {"mailward.store", "mailward.crypto", "mailward.audit"} <= set(
        forbidden["forbidden_modules"]
    )
    present = [f"mailward.{fe}" for fe in FRONT_ENDS if (root / fe).is_dir()]
    missing = [m for m in present if m not in forbidden["source_modules"]]
    assert not missing, f"add {missing} to the forbidden contract in pyproject.toml"
