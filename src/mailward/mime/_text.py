"""Bodies as text: transfer decoding, charsets, and HTML rendered as plain text.

Every function returns a best-effort result and, where input can be damaged, a
`clean` flag that is False when something had to be repaired or guessed. Nothing
here raises, whatever the input.
"""

import binascii
import codecs
import functools
import html
import re

SNIPPET_CHARS = 200
# The snippet is cut from a prefix of the body that grows until it yields enough
# text, so a 20 MB body costs no more than a short one on the delivery path.
_FIRST_WINDOW_BYTES = 2048
# Of a plain-text window, one_line first reads this many characters (see _plain_line);
# in prose, runs of white space and line ends take far fewer than the 56 to spare.
_FIRST_PREFIX_CHARS = 256
# Of a window in UTF-8, the bytes first decoded (see _utf8_start): even in base64,
# enough for 200 characters of Latin, Greek or Cyrillic text (CJK takes a second try).
_START_BYTES = 576

_CHARSET_NAME = re.compile(r"[a-z0-9][a-z0-9._:+-]{0,39}")
# Codecs Python knows that are no charset a message may declare: they raise on some
# input whatever the error handler, or turn escapes into arbitrary characters.
_NOT_CHARSETS = frozenset(["undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape"])
_ASCII_ALIASES = frozenset(["", "us-ascii", "ascii", "utf-8", "utf8"])

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_BASE64_ALPHABET)))

# One HTML token: text, comment, tag (attribute values may hold ">"), other markup
# such as <!DOCTYPE> or </3, or a "<" that starts nothing. Every alternative consumes
# input and none can backtrack into another, so tokenising is linear.
_HTML_TOKEN = re.compile(
    r"(?P<text>[^<]+)"
    r"|<!--.*?(?:-->|\Z)"
    r"|<(?P<close>/?)(?P<name>[a-zA-Z][a-zA-Z0-9:-]*)(?:[^>\"']|\"[^\"]*\"|'[^']*')*>?"
    r"|<[!?/][^>]*>?"
    r"|<",
    re.S,
)
_HIDDEN_ELEMENTS = {
    name: re.compile(rf"</{name}[^>]*>?", re.I) for name in ("script", "style", "title", "template")
}
# Elements that end a line, and those that also leave a blank line (a paragraph).
_LINE_ELEMENTS = frozenset(
    {"address", "article", "aside", "br", "dd", "div", "dt", "fieldset", "figcaption",
     "figure", "footer", "form", "header", "li", "main", "nav", "section", "tr"}
)  # fmt: skip
_PARAGRAPH_ELEMENTS = frozenset(
    {"blockquote", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre", "table",
     "ul"}
)  # fmt: skip
_CELL_ELEMENTS = frozenset(["td", "th"])
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def known_charset(charset: str | None) -> bool:
    """Whether `charset` names a text encoding we can decode with."""
    return not charset or _codec(charset) is not None


def decode_text(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode `data` in `charset`; unknown charsets decode as UTF-8 with replacement.

    A missing or US-ASCII charset decodes as UTF-8: ASCII is a subset, and 8-bit
    text labelled ASCII is UTF-8 far more often than anything else.
    """
    codec = _codec(charset) if charset else "utf-8"
    clean = codec is not None
    try:
        text = data.decode(codec or "utf-8")
    except (UnicodeError, LookupError, ValueError):
        clean = False
        try:
            text = data.decode(codec or "utf-8", "replace")
        except (UnicodeError, LookupError, ValueError):
            text = data.decode("utf-8", "replace")
    # RFC 2045 §2.7: NUL is no part of text, whatever the charset.
    return text.removeprefix("\ufeff"), clean and "\x00" not in text


@functools.lru_cache(maxsize=256)
def _codec_by_name(name: str) -> str | None:
    if name in _ASCII_ALIASES:
        return "utf-8"
    if not _CHARSET_NAME.fullmatch(name):
        return None
    try:
        codec = codecs.lookup(name).name
        b"".decode(codec)  # LookupError for bytes-to-bytes codecs such as base64
    except (LookupError, ValueError):
        return None
    return None if codec in _NOT_CHARSETS else codec


def _codec(charset: str) -> str | None:
    name = charset.strip().strip("\"'").lower()
    return _codec_by_name(name) if len(name) <= 40 else None


def base64_lenient(data: bytes) -> tuple[bytes, bool]:
    """Decode base64, skipping foreign characters and repairing padding."""
    compact = data.translate(None, b" \t\r\n")
    kept = compact.translate(None, _NOT_BASE64)
    decoded, clean = _base64_runs(kept)
    return decoded, clean and len(kept) == len(compact) and len(compact) % 4 == 0


def _base64_runs(kept: bytes) -> tuple[bytes, bool]:
    """Base64 letters decoded run by run between "=" signs; clean if one whole run."""
    chunks = [chunk for chunk in kept.split(b"=") if chunk]
    clean = len(chunks) <= 1
    out = bytearray()
    for chunk in chunks:
        extra = len(chunk) % 4
        if extra == 1:  # a lone sextet cannot encode a byte
            chunk, clean = chunk[:-1], False
        elif extra:
            chunk += b"=" * (4 - extra)
        try:
            out += binascii.a2b_base64(chunk)
        except binascii.Error:
            clean = False
    return bytes(out), clean


def transfer_decode(data: bytes, encoding: str) -> tuple[bytes, bool]:
    """Undo a Content-Transfer-Encoding (RFC 2045 §6); unknown ones pass through."""
    if encoding == "base64":
        return base64_lenient(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data), True
    return data, True


def html_to_text(markup: str) -> str:
    """Render HTML as plain text: tags dropped, entities unescaped, blocks on lines."""
    lines = _Lines()
    position, length = 0, len(markup)
    while position < length:
        token = _HTML_TOKEN.match(markup, position)
        if token is None:  # unreachable: the last alternative matches any "<"
            break
        position = token.end()
        text = token.group("text")
        if text is not None:
            lines.add(html.unescape(text))
            continue
        name = (token.group("name") or "").lower()
        if name in _HIDDEN_ELEMENTS and not token.group("close"):
            closer = _HIDDEN_ELEMENTS[name].search(markup, position)
            position = closer.end() if closer else length
        elif name in _PARAGRAPH_ELEMENTS:
            lines.end(blank_after=True)
        elif name in _LINE_ELEMENTS:
            lines.end(blank_after=False)
        elif name in _CELL_ELEMENTS:
            lines.add(" ")
    lines.end(blank_after=False)
    return "\n".join(lines.done)


class _Lines:
    """Text lines being rendered; a blank line only where a paragraph ended."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self._current: list[str] = []
        self._blank_pending = False

    def add(self, text: str) -> None:
        self._current.append(text)

    def end(self, *, blank_after: bool) -> None:
        line = " ".join("".join(self._current).split())
        self._current.clear()
        if line:
            if self._blank_pending and self.done:
                self.done.append("")
            self.done.append(line)
            self._blank_pending = blank_after
        else:
            self._blank_pending = self._blank_pending or blank_after


def one_line(text: str) -> str:
    """`text` with control characters dropped and all whitespace runs made one space."""
    return " ".join(_INVISIBLE.sub("", text).split())


def readable(text: str) -> str:
    """A decoded body for display: LF line ends and no NUL characters."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")


def snippet_of(body: bytes, encoding: str, charset: str | None, is_html: bool) -> tuple[str, bool]:
    """Up to SNIPPET_CHARS characters of a body part's text on one line, and `clean`."""
    window = _FIRST_WINDOW_BYTES
    while True:
        whole = window >= len(body)
        encoded = body if whole else _cut(body, window)
        if not (whole or is_html) and window == _FIRST_WINDOW_BYTES:
            start = _utf8_start(encoded, encoding, charset)
            if start is not None:
                return start, known_charset(charset)
        data, clean_transfer = transfer_decode(encoded, encoding)
        text, clean_charset = decode_text(data, charset)
        snippet = one_line(html_to_text(text)) if is_html else _plain_line(text)
        if whole or len(snippet) >= SNIPPET_CHARS:
            # A window cut short may end inside a character or a base64 quantum; only
            # a decode of the whole body may call the body damaged.
            clean = clean_transfer and clean_charset if whole else known_charset(charset)
            return snippet[:SNIPPET_CHARS].rstrip(), clean
        window *= 4


def _plain_line(text: str) -> str:
    """`one_line(text)`, or a prefix of it at least SNIPPET_CHARS long."""
    # one_line keeps prefixes: one_line(text[:n]) is a prefix of one_line(text), as
    # dropping characters and joining whitespace-separated words work left to right.
    # So when a short prefix already fills the snippet, the rest cannot change it.
    # one_line costs about 9 ns a character, most of a plain snippet's time.
    size = _FIRST_PREFIX_CHARS
    while size < len(text):
        start = one_line(text[:size])
        if len(start) >= SNIPPET_CHARS:
            return start
        size *= 4
    return one_line(text)


def _utf8_start(encoded: bytes, encoding: str, charset: str | None) -> str | None:
    """The snippet of a UTF-8 window, read from its start when that decides it."""
    # Decoding is most of a snippet's cost, so try a prefix first; it gives the same
    # snippet. A prefix decodes to a prefix of the window's bytes: base64_lenient works
    # quantum by quantum (a window cut short never reports its `clean`), and a2b_qp
    # line by line when cut just after a LF (it looks at most two bytes past an "=",
    # and past "=" CR only up to the next LF). The characters of a valid UTF-8 prefix
    # begin the window's text whatever follows (an incomplete last one is left out),
    # and one_line keeps prefixes (see _plain_line).
    if (_codec(charset) if charset else "utf-8") != "utf-8":
        return None
    if encoding == "base64":
        data = _base64_runs(encoded[:_START_BYTES].translate(None, _NOT_BASE64))[0]
    elif encoding == "quoted-printable":
        data = binascii.a2b_qp(encoded[: encoded.rfind(b"\n", 0, _START_BYTES) + 1])
    else:
        data = encoded[:_START_BYTES]
    try:
        text = codecs.utf_8_decode(data, "strict", False)[0]
    except UnicodeDecodeError:
        return None
    line = _plain_line(text.removeprefix("\ufeff"))
    return line[:SNIPPET_CHARS].rstrip() if len(line) >= SNIPPET_CHARS else None


def _cut(body: bytes, size: int) -> bytes:
    end = body.rfind(b"\n", 0, size)
    return body[: end + 1] if end > 0 else body[:size]
