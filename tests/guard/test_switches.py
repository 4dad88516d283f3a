"""Kill switch and feature flags: the state file every process reads."""

import os
from pathlib import Path

import pytest

from mailward.core.errors import InvalidInput
from mailward.guard import STAGES, Switches, bucket


def test_engage_and_release_by_scope(tmp_path: Path) -> None:
    sw = Switches(tmp_path / "guard.json")
    assert sw.engaged("web") is None
    sw.engage("web", "cli:test", "maintenance")
    entry = sw.engaged("web")
    assert entry is not None and entry["by"] == "cli:test" and entry["reason"] == "maintenance"
    assert sw.engaged("smtp-in") is None
    sw.engage("all", "cli:test", "everything")
    assert sw.engaged("smtp-in") is not None  # `all` stops every scope
    assert sw.release("all") and sw.release("web")
    assert sw.engaged("web") is None and sw.engaged("smtp-in") is None
    assert not sw.release("web")  # nothing to release


def test_another_process_sees_a_change_at_its_next_check(tmp_path: Path) -> None:
    reader, writer = Switches(tmp_path / "guard.json"), Switches(tmp_path / "guard.json")
    assert reader.engaged("api") is None  # reader has a parsed copy now
    writer.engage("api", "other", "x")
    assert reader.engaged("api") is not None
    writer.set_flag("page-cache", 50.0, "other", "x")
    assert reader.flag("page-cache").percent == 50.0


def test_unknown_scopes_and_bad_percentages_are_refused(tmp_path: Path) -> None:
    sw = Switches(tmp_path / "guard.json")
    with pytest.raises(InvalidInput, match="unknown scope"):
        sw.engage("mail", "me", "x")
    with pytest.raises(InvalidInput, match="percentage"):
        sw.set_flag("x", 101.0, "me", "x")
    with pytest.raises(InvalidInput, match="flag name"):
        sw.set_flag("bad name;", 1.0, "me", "x")


def test_an_unreadable_state_file_stops_everything(tmp_path: Path) -> None:
    path = tmp_path / "guard.json"
    path.write_text("{ not json")
    assert Switches(path).engaged("web") is not None  # fail closed


def test_rollout_percentage_follows_the_account_bucket(tmp_path: Path) -> None:
    sw = Switches(tmp_path / "guard.json")
    accounts = [f"acct-{i}" for i in range(2000)]
    sw.set_flag("f", 10.0, "me", "x")
    on = [a for a in accounts if sw.enabled("f", a)]
    assert on == [a for a in accounts if bucket("f", a) < 1000]
    assert 100 < len(on) < 300  # about 10 % of 2,000
    sw.set_flag("f", 50.0, "me", "x")
    assert set(on) <= {a for a in accounts if sw.enabled("f", a)}  # widening keeps them in
    sw.engage("flag:f", "me", "x")
    assert not any(sw.enabled("f", a) for a in accounts)  # a kill switch on the feature


def test_rollout_moves_stage_by_stage_after_a_clean_soak(tmp_path: Path) -> None:
    sw = Switches(tmp_path / "guard.json")
    f = sw.set_flag("g", 0.0, "me", "start", soak_s=60.0)
    f = sw.rollout("g", "me", now=f.since)
    assert f.percent == STAGES[0]
    with pytest.raises(InvalidInput, match="soak"):
        sw.rollout("g", "me", now=f.since + 59)
    f = sw.rollout("g", "me", now=f.since + 61)
    assert f.percent == STAGES[1]
    assert [h["to"] for h in f.history] == [0.0, STAGES[0], STAGES[1]]
    assert all(h["by"] == "me" and h["at"] > 0 for h in f.history)


def test_state_file_is_private(tmp_path: Path) -> None:
    sw = Switches(tmp_path / "guard.json")
    sw.engage("web", "me", "x")
    assert os.stat(tmp_path / "guard.json").st_mode & 0o077 == 0


def test_operator_scope_names(tmp_path: Path) -> None:
    sw = Switches(tmp_path / "guard.json")
    assert sw.scopes("smtp") == ["smtp-in", "submission"]
    assert sw.scopes("web, last-logon") == ["web", "flag:last-logon"]
    with pytest.raises(InvalidInput, match="unknown scope"):
        sw.scopes("no-such-thing")


def test_cli_killswitch_and_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mailward.cli import main

    data = str(tmp_path / "data")
    assert main(["--data", data, "killswitch", "engage", "--scope", "smtp,web"]) == 0
    sw = Switches(tmp_path / "data" / "guard.json")
    assert sw.engaged("submission") is not None and sw.engaged("web") is not None
    assert main(["--data", data, "killswitch", "release", "--scope", "smtp"]) == 0
    assert sw.engaged("smtp-in") is None and sw.engaged("web") is not None
    assert main(["--data", data, "flags", "set", "page-cache", "10", "--soak", "0"]) == 0
    assert main(["--data", data, "flags", "rollout", "page-cache"]) == 0
    assert sw.flag("page-cache").percent == 50.0
    assert main(["--data", data, "flags", "list"]) == 0
    out = capsys.readouterr().out
    assert "page-cache" in out and "50 %" in out and "last-logon" in out
    assert main(["--data", data, "killswitch", "engage", "--scope", "mail"]) == 1
