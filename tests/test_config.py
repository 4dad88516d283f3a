"""Settings resolve flag > environment > config file > default."""

from pathlib import Path

import pytest

from mailward.config import load_settings
from mailward.core.errors import InvalidInput


def test_precedence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "mailward.toml").write_text("retention_days = 7\naudit = false\nfast_hashing = true\n")
    s = load_settings({"data": str(data)}, env={})
    assert (s.retention_days, s.audit, s.fast_hashing) == (7.0, False, True)
    s = load_settings({"data": str(data)}, env={"MAILWARD_RETENTION_DAYS": "3"})
    assert s.retention_days == 3.0
    s = load_settings(
        {"data": str(data), "retention_days": 1}, env={"MAILWARD_RETENTION_DAYS": "3"}
    )
    assert s.retention_days == 1.0
    assert load_settings({}, env={"MAILWARD_DATA": str(data)}).data == data
    assert load_settings({}, env={}).master_key_path == Path("mailward-data/master.key")


def test_bad_values_are_clear_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(InvalidInput, match="retention_days"):
        load_settings({"data": str(data)}, env={"MAILWARD_RETENTION_DAYS": "soon"})
    (data / "mailward.toml").write_text("this is = = not toml")
    with pytest.raises(InvalidInput, match=r"mailward\.toml"):
        load_settings({"data": str(data)}, env={})
