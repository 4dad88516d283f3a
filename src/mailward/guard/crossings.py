"""The drills' ground truth: every crossing an injected fault attempted.

Written only when a fault is injected (`serve --inject-fault`), by the faulty code
path itself at the moment it hands one account's data towards another — before
any guard sees it — so a drill can compare what the guard caught, what reached
the clients and what the incident report says with what really happened.
One JSON object per line; appends of one short line are atomic (O_APPEND).
"""

import json
import os
import time
from pathlib import Path
from typing import Any


class CrossingLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def note(self, fault: str, receiver: str, owner: str, what: str) -> None:
        """`fault` handed `owner`'s data (`what`) towards `receiver` ('' = unknown)."""
        line = json.dumps(
            {
                "at_us": time.time_ns() // 1000,
                "fault": fault,
                "receiver": receiver,
                "owner": owner,
                "what": what,
            }
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode() + b"\n")
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]
