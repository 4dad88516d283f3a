"""Each drill at a small size: with the guard, nothing of another account reaches a
client and the faulty flag ends at 0 %; without it, the same drill leaks (so the
drill can fail) — and either way the incident report over the drill's window says
exactly what reached which client (precision and recall 1.0 against what the
clients themselves found)."""

import pytest

from mailward.core.faults import FAULTS
from mailward.drill import run_drill


@pytest.mark.parametrize("fault", FAULTS)
def test_guard_contains_the_fault(fault: str) -> None:
    r = run_drill(fault, users=4, messages=2, seconds=1.0)
    assert r.crossings_attempted > 0  # the fault really fired
    assert r.leaked_items == 0 and r.leaked_bytes == 0
    assert r.trips >= 1 and r.detect_ms is not None and r.contain_ms is not None
    assert r.crossings_after_containment == 0
    assert r.flag_final_percent == 0.0 and r.killswitch == []  # attributed to its flag
    assert (r.report_precision, r.report_recall) == (1.0, 1.0)  # nothing reported, none leaked


@pytest.mark.parametrize("fault", FAULTS)
def test_without_the_guard_the_same_drill_leaks(fault: str) -> None:
    r = run_drill(fault, guard=False, users=4, messages=2, seconds=1.0)
    assert r.leaked_items > 0 and r.leaked_bytes > 0
    assert r.flag_final_percent == 100.0  # nothing contained it
    assert r.trips >= 1  # ...but the boundary recorded what left,
    # and the incident report names exactly what reached each client, item by item
    assert (r.report_precision, r.report_recall) == (1.0, 1.0)


def test_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from mailward.cli import main

    args = ["drill", "session-mixup", "--json", "--users", "3", "--seconds", "0.5"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("fault", "requests", "crossings_attempted", "leaked_items", "leaked_bytes",
                "detect_ms", "contain_ms", "report_precision", "report_recall"):  # fmt: skip
        assert key in doc
    assert doc["fault"] == "session-mixup" and doc["leaked_items"] == 0 and doc["requests"] > 0
