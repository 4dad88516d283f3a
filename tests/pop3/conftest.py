"""Fixtures of the POP3 tests (helpers in pop3_support.py: test modules import
from there, since every test directory's conftest is a module named "conftest")."""

from pop3_support import pop3, pop3_tls, pop3_with

__all__ = ["pop3", "pop3_tls", "pop3_with"]
