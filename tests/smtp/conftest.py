"""Fixtures of the SMTP tests (helpers in smtp_support.py: test modules import
from there, since every test directory's conftest is a module named "conftest")."""

from smtp_support import server, smarthost

__all__ = ["server", "smarthost"]
