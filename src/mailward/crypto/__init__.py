"""Keys and sealing.

Layout: `master.py` (the master key file, mode 0600, created on first run),
`seal.py` (AES-256-GCM whose associated data binds owner account, item and part),
`keys.py` (Keyring: per-account 256-bit data keys stored wrapped by the master key;
rotation re-wraps them without touching sealed messages).

Invariants:
- A data key never leaves this process unwrapped, and never reaches the database.
- Every ciphertext's associated data names its owner account, item and part, so a
  ciphertext opened for any other owner, item or part fails authentication instead
  of decrypting: a cross-wired row cannot turn into plaintext.
"""

from mailward.crypto.keys import Keyring
from mailward.crypto.master import MasterKey, load_or_create_master_key
from mailward.crypto.seal import NotOpened, Sealer
from mailward.crypto.tls import client_context_trusting, ensure_certificate, server_context

__all__ = [
    "Keyring",
    "MasterKey",
    "NotOpened",
    "Sealer",
    "client_context_trusting",
    "ensure_certificate",
    "load_or_create_master_key",
    "server_context",
]
