"""A message's HTML made safe to show: nh3 (ammonia) with an allow-list.

Scripts, event handlers, `javascript:` and other unknown URL schemes, forms,
frames, SVG, `<base>`, `<meta>`, `<link>` and `<style>` blocks are dropped;
inline styles keep only plain presentational properties; every link gets
`rel="noopener noreferrer"` and opens a new tab. What survives is still shown
only inside a sandboxed iframe whose document forbids scripts and remote loads
(headers.BODY_CSP), so a sanitiser bug alone does not run code or leak a read.
"""

import nh3

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u",
    "ul",
}  # fmt: skip
_GENERIC = {"style", "title", "align", "dir", "lang"}
_ATTRIBUTES = {
    "*": _GENERIC,
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor"},
    "td": {"width", "colspan", "rowspan", "valign", "bgcolor"},
    "th": {"width", "colspan", "rowspan", "valign", "bgcolor"},
    "col": {"span", "width"},
}
_STYLE_PROPERTIES = {
    "background-color", "border", "border-bottom", "border-collapse", "border-color",
    "border-left", "border-radius", "border-right", "border-spacing", "border-style",
    "border-top", "border-width", "color", "font", "font-family", "font-size",
    "font-style", "font-weight", "height", "letter-spacing", "line-height", "margin",
    "margin-bottom", "margin-left", "margin-right", "margin-top", "max-width", "min-width",
    "padding", "padding-bottom", "padding-left", "padding-right", "padding-top",
    "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align",
    "white-space", "width", "word-break",
}  # fmt: skip
_SCHEMES = {"http", "https", "mailto", "cid", "data"}


def _no_remote_images(element: str, attribute: str, value: str) -> str | None:
    # Remote images are tracking pixels until the reader says otherwise: the src
    # goes (the CSP would block the load too; this way it is not even attempted).
    if element == "img" and attribute == "src" and not value.lower().startswith(("data:", "cid:")):
        return None
    return value


def sanitize(html: str, *, remote_images: bool = False) -> str:
    """The allow-listed remains of a message's HTML."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        strip_comments=True,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=_STYLE_PROPERTIES,
        attribute_filter=None if remote_images else _no_remote_images,
    )


def body_document(html: str, *, remote_images: bool = False) -> str:
    """The iframe's document around sanitised HTML."""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer"></head>'
        '<body style="font-family: sans-serif; margin: 0.5rem">'
        f"{sanitize(html, remote_images=remote_images)}</body></html>"
    )
