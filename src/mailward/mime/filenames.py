"""Attachment file names that are safe to hand to a browser or write on any disk."""

import re

MAX_FILENAME_CHARS = 150
# An extension longer than this is more likely part of the name than a type hint.
_MAX_EXTENSION_CHARS = 16

_DIRECTORY_SEPARATOR = re.compile(r"[/\\]")
# Controls (C0 other than whitespace, which is collapsed; DEL; C1), surrogates left
# by undecodable bytes, zero-width and bidi controls (an RLO lets "invoice\u202efdp.exe"
# display as "invoiceexe.pdf"), the BOM, and the characters Windows refuses.
_UNSAFE = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff"
    '\ud800-\udfff<>:"|?*]'
)
# Device names Windows reserves whatever the extension ("con.txt" opens the console).
_RESERVED_STEMS = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{digit}" for digit in range(1, 10)]
    + [f"LPT{digit}" for digit in range(1, 10)]
)


def sanitize_filename(name: str | None, fallback: str = "attachment") -> str:
    """Return `name` reduced to a plain file name, or `fallback` when nothing is left.

    Drops any directory part (both `/` and `\\`), control and bidi characters,
    characters illegal on Windows, leading dots and trailing dots or spaces; collapses
    whitespace; caps the length at 150 characters, keeping the extension. The result
    is never empty, "." or "..".
    """
    cleaned = _clean(name or "")
    if cleaned:
        return cleaned
    return _clean(fallback) or "attachment"


def _clean(name: str) -> str:
    name = _DIRECTORY_SEPARATOR.split(name)[-1]
    # Bound the work on hostile input before the per-step passes below.
    if len(name) > 4 * MAX_FILENAME_CHARS:
        name = name[: 2 * MAX_FILENAME_CHARS] + name[-2 * _MAX_EXTENSION_CHARS :]
    name = _UNSAFE.sub("", name)
    name = " ".join(name.split()).lstrip(". ").rstrip(". ")
    if name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED_STEMS:
        name = "_" + name
    if len(name) > MAX_FILENAME_CHARS:
        name = _shorten(name)
    return name


def _shorten(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_CHARS:
        return name[:MAX_FILENAME_CHARS].rstrip(". ")
    keep = MAX_FILENAME_CHARS - len(extension) - 1
    return stem[:keep].rstrip(". ") + "." + extension
