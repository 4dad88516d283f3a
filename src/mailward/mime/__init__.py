"""Pure parsing of RFC 5322 / MIME messages: bytes in, frozen dataclasses out.

Layout: `summary` (the list entry computed at delivery: decoded sender, recipients,
subject, date, snippet; a header-only fast path for single-part messages),
`structure` (a message opened for reading: all headers, text and HTML bodies,
numbered attachments, one attachment's bytes, the raw header section),
`filenames` (attachment names safe for any disk or browser), `imap` (ENVELOPE,
BODYSTRUCTURE and BODY[section] in IMAP wire bytes, values as sent; never raises;
sections come with audit labels of the parts they expose). Private modules:
`_tree` (parsing with the email package, nesting cap, body/attachment rules),
`_fasthead` (the header section of a plain single-part message read without the
email package, for `summary`), `_headers` (header section end, unfolding, RFC
2047), `_text` (transfer encodings, charsets, HTML to text); `imap` is built on
`_imap_lines`, `_imap_tree`, `_imap_sections`, `_imap_structure`,
`_imap_addresses` and `_imap_strings` (raw offsets, part tree, sections,
BODYSTRUCTURE/ENVELOPE, address lists, wire strings).

Invariants:
- Pure: no I/O, no clock, no state between calls but a charset-lookup cache;
  imports only the standard library and `mailward.core`. Safe from any thread.
- Never raises on malformed input. `summarize`, `open_message` and
  `header_block` return a best-effort result for any bytes at all, with
  `malformed=True` when the message was damaged; `attachment` raises only
  LookupError, for an index the message does not have.
- Header values are `str` on one line: unfolded, RFC 2047 decoded, 8-bit bytes
  read as UTF-8, no CR, LF or other control characters.
- Unknown charsets decode as UTF-8 with U+FFFD replacement.
- Multipart nesting is followed 50 levels deep and no further.
"""

from mailward.mime.filenames import sanitize_filename
from mailward.mime.imap import bodystructure, envelope, header_fields, section
from mailward.mime.structure import Opened, attachment, crlf_lines, header_block, open_message
from mailward.mime.summary import Summary, summarize

__all__ = [
    "Opened",
    "Summary",
    "attachment",
    "bodystructure",
    "crlf_lines",
    "envelope",
    "header_block",
    "header_fields",
    "open_message",
    "sanitize_filename",
    "section",
    "summarize",
]
