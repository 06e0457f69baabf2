"""Lesson images: which files are accepted, whether they come from the browser or from a
lesson folder's ``images/``.

PNG and JPEG are checked by their signature. SVG is text that browsers can run script
from when it is opened directly, so an SVG is refused — not cleaned — if it holds
anything beyond drawing: scripts, event handlers, foreign content, entities, or links
to anything but its own fragments. (Shown through ``<img>`` an SVG runs nothing; the
image view also sends a CSP that forbids scripts, for the case of opening it alone.)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

MAX_IMAGE_BYTES = 2 * 1024 * 1024
IMAGE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,80}\.(png|jpg|jpeg|svg)$")
IMAGES_DIR = "images"
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "svg": "image/svg+xml",
}

_SVG_FORBIDDEN = re.compile(
    r"<!DOCTYPE|<!ENTITY|<\s*script|<\s*foreignObject|<\s*iframe|<\s*embed|<\s*object"
    r"|<\s*use\b[^>]*href\s*=\s*[\"'](?!#)|\bon[a-z]+\s*=|javascript:|data:(?!image/(png|jpeg))"
    r"|(?:href|src)\s*=\s*[\"'](?![#\"'])|@import|url\(\s*[\"']?(?!#)",
    re.IGNORECASE,
)


def image_problem(name: str, data: bytes) -> str | None:
    """Why this file cannot be a lesson image, or None."""
    match = IMAGE_NAME_RE.match(name)
    if not match:
        return (
            "an image name is lowercase letters, digits, - and _, ending in .png, .jpg, "
            ".jpeg or .svg"
        )
    if len(data) > MAX_IMAGE_BYTES:
        return f"larger than {MAX_IMAGE_BYTES // 2**20} MiB"
    kind = match.group(1)
    if kind == "png" and not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "not a PNG file"
    if kind in {"jpg", "jpeg"} and not data.startswith(b"\xff\xd8\xff"):
        return "not a JPEG file"
    if kind == "svg":
        return _svg_problem(data)
    return None


def _svg_problem(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "an SVG must be UTF-8 text"
    if found := _SVG_FORBIDDEN.search(text):
        return (
            f"refused: this SVG contains {found.group(0).strip()!r}; lesson SVGs may hold "
            "drawing only (no scripts, event handlers, entities, external links or styles)"
        )
    try:
        # Safe here: a DOCTYPE or ENTITY (the XML attacks) was refused above.
        root = ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError as exc:
        return f"not a well-formed SVG ({exc})"
    if root.tag not in {"svg", "{http://www.w3.org/2000/svg}svg"}:
        return "not an SVG (its root element is not <svg>)"
    return None


def content_type(name: str) -> str:
    return CONTENT_TYPES[name.rsplit(".", 1)[-1]]
