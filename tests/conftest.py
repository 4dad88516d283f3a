"""Shared fixtures: a real runtime on a temporary data directory, three accounts."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from support import World, build_world

settings.register_profile("ci", max_examples=40, deadline=None)
settings.register_profile("fuzz", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Servers the tests start (in subprocesses too) open only the listeners a test
# names: the IMAP and POP3 defaults (2143, 2110) stay free for a running service.
os.environ.setdefault("MAILWARD_IMAP", "off")
os.environ.setdefault("MAILWARD_POP3", "off")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world(tmp_path / "data")
    yield w
    w.rt.close()
