import pytest

from mailward.mime import sanitize_filename

CASES = [
    # (given, expected)
    ("report.pdf", "report.pdf"),
    ("Quarterly Report 2024.xlsx", "Quarterly Report 2024.xlsx"),
    ("r\u00e9sum\u00e9 \u20ac.txt", "r\u00e9sum\u00e9 \u20ac.txt"),
    ("/etc/passwd", "passwd"),
    ("../../../.ssh/authorized_keys", "authorized_keys"),
    ("C:\\Users\\bob\\Desktop\\invoice.pdf", "invoice.pdf"),
    ("dir/sub\\mixed/name.txt", "name.txt"),
    (".htaccess", "htaccess"),
    ("...hidden.txt", "hidden.txt"),
    ('a<b>c:d"e|f?g*h.txt', "abcdefgh.txt"),
    ("tab\tand\nnewline\r\n.txt", "tab and newline .txt"),
    ("nul\x00byte\x1f\x7f.bin", "nulbyte.bin"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),  # RLO would display as "invoiceexe.pdf"
    ("zero\u200bwidth.txt", "zerowidth.txt"),
    ("  lots   of    space  .txt ", "lots of space .txt"),
    ("trailing dots...", "trailing dots"),
    ("CON.txt", "_CON.txt"),
    ("lpt1", "_lpt1"),
    ("console.txt", "console.txt"),
    ("bad\udcffbyte.txt", "badbyte.txt"),
]


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_sanitize(given: str, expected: str) -> None:
    assert sanitize_filename(given) == expected


NOTHING_LEFT = [None, "", "   ", ".", "..", "/", "dir/", "\\", ":*?", "\x00\x01"]


@pytest.mark.parametrize("given", NOTHING_LEFT)
def test_nothing_left_gives_the_fallback(given: str | None) -> None:
    assert sanitize_filename(given) == "attachment"
    assert sanitize_filename(given, fallback="message.eml") == "message.eml"


def test_a_bad_fallback_is_sanitised_too() -> None:
    assert sanitize_filename(None, fallback="../x/.y") == "y"
    assert sanitize_filename(None, fallback="..") == "attachment"


def test_long_names_keep_their_extension() -> None:
    name = "a" * 300 + ".pdf"
    cleaned = sanitize_filename(name)
    assert len(cleaned) == 150
    assert cleaned == "a" * 146 + ".pdf"


def test_a_long_extension_is_no_extension() -> None:
    cleaned = sanitize_filename("x." + "y" * 300)
    assert len(cleaned) == 150
    assert cleaned.startswith("x.yyy")


def test_long_name_without_extension_is_cut() -> None:
    assert sanitize_filename("b" * 1000) == "b" * 150


def test_huge_hostile_name_is_bounded() -> None:
    cleaned = sanitize_filename(("x/" * 10_000) + "\u202e" * 100_000 + "evil.exe")
    assert cleaned == "evil.exe"
