"""Lesson Markdown → sanitised HTML and a table of contents.

Authors (instructors, or files anyone could send as a pull request) are not trusted
with raw HTML: whatever Markdown produces goes through nh3 with an allow-list that
keeps only what our extensions emit. A <script>, an on*= handler or a javascript:
link never reaches the browser.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
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
    "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "ins", "kbd",
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
    "img": {"src", "alt", "width", "height"},
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


# Images are our own figures from static/img/, or the lesson's own uploaded images
# (``images/<name>``, relative, so the lesson page and the editor's preview each
# resolve them to their own image view): a lesson cannot make the reader's browser
# fetch anything from another host (the CSP would block it anyway), and an SVG shown
# through <img> runs no script. An <img> whose source is anything else is removed.
IMAGE_SRC_RE = re.compile(
    r"^(?:/static/img/[a-z0-9][a-z0-9/_-]*\.(?:svg|png)"
    r"|images/[a-z0-9][a-z0-9_-]{0,80}\.(?:png|jpg|jpeg|svg))$"
)
_IMG_TAG_RE = re.compile(r"<img\b[^>]*>")


def _image_src_filter(element: str, attribute: str, value: str) -> str | None:
    if element == "img" and attribute == "src" and not IMAGE_SRC_RE.match(value):
        return None
    return value


def _drop_images_without_source(html: str) -> str:
    # nh3's output is well-formed and escapes ">" inside attribute values.
    return _IMG_TAG_RE.sub(lambda m: m[0] if ' src="' in m[0] else "", html)


def sanitize(html: str) -> str:
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_image_src_filter,
        url_schemes=ALLOWED_URL_SCHEMES,
        filter_style_properties=ALLOWED_STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return _drop_images_without_source(cleaned)


def _flatten_toc(tokens: list[dict]) -> list[dict]:
    entries: list[dict] = []
    for token in tokens:
        # Markdown hands the names over HTML-escaped; the template escapes them itself.
        name = unescape(token["name"])
        entries.append({"id": token["id"], "name": name, "level": token["level"]})
        entries.extend(_flatten_toc(token.get("children", [])))
    return entries


# Building a Markdown converter with our extensions costs several times more than
# converting a quiz prompt with it (a course import renders over a thousand snippets),
# so each thread keeps one and resets it between documents. A converter is not safe
# to share between threads, hence one per thread.
_converters = threading.local()


def _converter() -> markdown.Markdown:
    md = getattr(_converters, "md", None)
    if md is None:
        md = markdown.Markdown(extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS)
        _converters.md = md
    return md


def _render(text: str) -> tuple[str, list[dict]]:
    md = _converter()
    try:
        html = sanitize(md.convert(text))
        toc = _flatten_toc(getattr(md, "toc_tokens", []))
    finally:
        md.reset()  # what one document left (its contents list, stashed HTML) never leaks
    return html, toc


class _RenderCache:
    """Rendered Markdown by source text, least recently used first out, bounded by the
    characters of source it holds. The same snippets are rendered again and again: a
    course import renders every quiz prompt and choice, an exported course imported
    back renders them all once more, an editor's preview re-renders a lesson on each
    change. The output depends on the text alone (the extensions and the allow-list
    are fixed), so a cached result is the result."""

    def __init__(self, max_chars: int):
        self.max_chars = max_chars
        self._entries: OrderedDict[str, tuple[str, list[dict]]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, text: str) -> tuple[str, list[dict]] | None:
        with self._lock:
            found = self._entries.get(text)
            if found is not None:
                self._entries.move_to_end(text)
            return found

    def put(self, text: str, result: tuple[str, list[dict]]) -> None:
        if len(text) > self.max_chars:
            return
        with self._lock:
            if text in self._entries:
                return
            self._entries[text] = result
            self._chars += len(text)
            while self._chars > self.max_chars:
                oldest, _ = self._entries.popitem(last=False)
                self._chars -= len(oldest)


# A few times the shipped course's 310,000 characters of Markdown.
_cache = _RenderCache(max_chars=2_000_000)


def render_markdown(text: str) -> Rendered:
    found = _cache.get(text)
    if found is None:
        found = _render(text)
        _cache.put(text, found)
    html, toc = found
    # Each caller gets its own table of contents, which a model may keep and change.
    return Rendered(html=html, toc=[dict(entry) for entry in toc])


def render_inline(text: str) -> str:
    """Short Markdown (quiz prompts, feedback) without a table of contents."""
    return render_markdown(text).html
