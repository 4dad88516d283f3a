"""Mailward: an e-mail service built around one promise.

No code path can hand one account's mail to another account, every access to a
mail item is recorded, and if something still goes wrong it is contained in
milliseconds and its exact scope is known in seconds. See ../shared/DESIGN.md for
the layers; `runtime` is the composition root and `cli` the entry point.
"""

__version__ = "0.1.0"
