"""Lesson Markdown → sanitised HTML and a table of contents.

Authors (instructors, or files anyone could send as a pull request) are not trusted
with raw HTML: whatever Markdown produces goes through nh3 with an allow-list that
keeps only what our extensions emit. A <script>, an on*= handler or a javascript:
link never reaches the browser.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from html import unescape

import markdown
import nh3

EXTENSIONS = [
    "tables",
    "attr_list",
    "md_in_html",
    "toc",
    "admonition",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "pymdownx.inlinehilite",
    "pymdownx.details",
    "pymdownx.tabbed",
    "pymdownx.tasklist",
    "pymdownx.betterem",
    "pymdownx.tilde",
]
EXTENSION_CONFIGS = {
    "toc": {"permalink": "#", "permalink_title": "Link to this section", "toc_depth": "2-3"},
    "pymdownx.highlight": {"use_pygments": True, "css_class": "highlight", "guess_lang": False},
    "pymdownx.tabbed": {"alternate_style": True},
    "pymdownx.tasklist": {"custom_checkbox": False},
}

_COMMON_ATTRIBUTES = {"class", "id", "title", "lang"}
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div",
    "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "input", "ins", "kbd",
    "label", "li", "mark", "ol", "p", "pre", "s", "samp", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": _COMMON_ATTRIBUTES,
    "a": {"href"},
    "td": {"align", "colspan", "rowspan", "style"},
    "th": {"align", "colspan", "rowspan", "scope", "style"},
    "ol": {"start"},
    "details": {"open"},
    # task lists render disabled checkboxes; tabs are radio inputs plus labels (no JS)
    "input": {"type", "checked", "disabled", "name"},
    "label": {"for"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
# Tables align columns with style="text-align: …"; nothing else may be styled.
ALLOWED_STYLE_PROPERTIES = {"text-align"}


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[dict] = field(default_factory=list)  # [{"id", "name", "level"}]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        filter_style_properties=ALLOWED_STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _flatten_toc(tokens: list[dict]) -> list[dict]:
    entries: list[dict] = []
    for token in tokens:
        # Markdown hands the names over HTML-escaped; the template escapes them itself.
        name = unescape(token["name"])
        entries.append({"id": token["id"], "name": name, "level": token["level"]})
        entries.extend(_flatten_toc(token.get("children", [])))
    return entries


def render_markdown(text: str) -> Rendered:
    md = markdown.Markdown(extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
    html = sanitize(md.convert(text))
    return Rendered(html=html, toc=_flatten_toc(getattr(md, "toc_tokens", [])))


def render_inline(text: str) -> str:
    """Short Markdown (quiz prompts, feedback) without a table of contents."""
    return render_markdown(text).html
