"""Random bytes from the OS, drawn in blocks.

Sealing a message needs six nonces and an id: six getrandom calls, each of which
drops and retakes the interpreter lock, which under many delivering threads costs
far more than the call. A per-thread block of os.urandom output, handed out in
slices and never reused, gives the same bytes at a fraction of the cost.
"""

import os
import threading

_BLOCK_BYTES = 4096
_local = threading.local()


def random_bytes(n: int) -> bytes:
    """`n` bytes from the OS's CSPRNG (never the same bytes twice)."""
    if n > _BLOCK_BYTES:
        return os.urandom(n)
    block: bytes = getattr(_local, "block", b"")
    pos: int = getattr(_local, "pos", 0)
    if pos + n > len(block):
        block, pos = os.urandom(_BLOCK_BYTES), 0
        _local.block = block
    _local.pos = pos + n
    return block[pos : pos + n]
