"""The append-only, hash-chained access log: evidence of every exposure.

Layout: `record.py` (AuditRecord and its canonical encoding and hash),
`writer.py` (AuditLog: appends inside the caller's write transaction),
`head.py` (the signed head kept outside the database), `verify.py` (walks the
chain and names the first broken record), `query.py` (reads for reports and for
"access to my mailbox").

Invariants:
- Each record's hash is SHA-256 over its canonical encoding, which includes its
  sequence number and the previous record's hash; the first record links to 32
  zero bytes.
- A record is appended in the same transaction as the change it describes, and a
  read's record commits (fsync) before the data is returned.
- After commits the head (last seq and hash) is written, MAC-signed (keyed BLAKE2b)
  with a key the database does not hold, to a file beside the database, by a
  background thread within milliseconds (never ahead of the log): a truncated
  tail, or a chain recomputed after tampering, no longer matches it.
- The database refuses UPDATE and DELETE on the log (triggers).
"""

from mailward.audit.record import AuditRecord, StoredRecord
from mailward.audit.verify import Problem, VerifyResult, verify_chain, verify_window
from mailward.audit.writer import AuditLog, Prepared, encode_one, encode_record

__all__ = [
    "AuditLog",
    "AuditRecord",
    "Prepared",
    "Problem",
    "StoredRecord",
    "VerifyResult",
    "encode_one",
    "encode_record",
    "verify_chain",
    "verify_window",
]
