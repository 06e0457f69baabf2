"""A question's Markdown rendered once (sanitised like lessons) and its content hash."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from virtlab.rendering import render_markdown

from .types import get_type

_SINGLE_PARAGRAPH = re.compile(r"\A<p>(.*)</p>\Z", re.S)


def spec_hash(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def render_short(text: str) -> str:
    """Markdown for a label or a line: one paragraph loses its <p> so it fits inline."""
    html = render_markdown(str(text)).html.strip()
    match = _SINGLE_PARAGRAPH.match(html)
    return match.group(1) if match and "<p>" not in match.group(1) else html


def render_question(spec: dict[str, Any]) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "prompt": render_markdown(spec.get("prompt", "")).html,
        "explanation": render_markdown(spec.get("explanation", "")).html
        if spec.get("explanation")
        else "",
        "hints": [render_short(h) for h in spec.get("hints", [])],
    }
    qtype = get_type(spec.get("type", ""))
    if qtype is not None:
        rendered.update(qtype.render(spec, render_short))
    return rendered
