"""Containment: the response-boundary guard, the kill switch and feature flags.

- `stamp`: whose data a response carries (travels with the response);
- `boundary`: `Guard.check` — refuse, record, contain (flag rollback or kill switch);
- `switches`: the kill switch and percentage-rollout flags, in one state file every
  process reads.
"""

from mailward.guard.boundary import PROTOCOL_SCOPE, Guard, GuardEvent, Verdict
from mailward.guard.stamp import Stamp
from mailward.guard.switches import PROTOCOL_SCOPES, STAGES, FlagState, Switches, bucket

__all__ = [
    "PROTOCOL_SCOPE",
    "PROTOCOL_SCOPES",
    "STAGES",
    "FlagState",
    "Guard",
    "GuardEvent",
    "Stamp",
    "Switches",
    "Verdict",
    "bucket",
]
