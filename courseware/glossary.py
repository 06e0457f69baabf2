"""The course glossary: ``glossary.yaml`` beside the lessons in the content folder.

It is content, like the lessons, but not imported into the database: the glossary page
and each lesson's "Terms in this lesson" read the file (cached until it changes). A
malformed file is an error naming the problem, never a silently shorter glossary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .coursefiles.errors import ContentError

GLOSSARY_FILE = "glossary.yaml"
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CODE_RE = re.compile(r"`([^`]+)`")
FIELDS = {"id", "term", "definition", "match", "lessons"}


@dataclass(frozen=True)
class Entry:
    id: str
    term: str
    definition: str
    match: re.Pattern
    lessons: tuple[str, ...]

    @property
    def definition_html(self) -> SafeString:
        """The definition escaped, with `code` spans as <code> (the only markup allowed)."""
        return mark_safe(CODE_RE.sub(r"<code>\1</code>", escape(self.definition)))  # noqa: S308


def glossary_path() -> Path:
    return Path(settings.VIRTLAB_CONTENT_DIR) / GLOSSARY_FILE


def parse_glossary(text: str, where: str = GLOSSARY_FILE) -> list[Entry]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContentError([f"{where}: invalid YAML: {exc}"]) from exc
    raw = data.get("terms") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ContentError([f"{where}: expected 'terms:' with a list of entries"])
    entries: list[Entry] = []
    problems: list[str] = []
    for index, item in enumerate(raw, start=1):
        here = f"{where}: entry {index}"
        if not isinstance(item, dict):
            problems.append(f"{here}: expected a mapping")
            continue
        if missing := sorted(FIELDS - set(item)):
            problems.append(f"{here}: missing {', '.join(missing)}")
            continue
        if extra := sorted(set(item) - FIELDS):
            problems.append(f"{here}: unknown field(s) {', '.join(map(str, extra))}")
        if not ID_RE.match(str(item["id"])):
            problems.append(f"{here}: id {item['id']!r} must be lowercase letters and hyphens")
        lessons = item["lessons"]
        if not isinstance(lessons, list) or not all(isinstance(s, str) for s in lessons):
            problems.append(f"{here}: 'lessons' must be a list of lesson slugs")
            lessons = []
        try:
            pattern = re.compile(str(item["match"]), re.I)
        except re.error as exc:
            problems.append(f"{here}: 'match' is not a valid regular expression: {exc}")
            continue
        entries.append(
            Entry(
                id=str(item["id"]),
                term=str(item["term"]).strip(),
                definition=" ".join(str(item["definition"]).split()),
                match=pattern,
                lessons=tuple(lessons),
            )
        )
    ids = [entry.id for entry in entries]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{where}: duplicate id(s): {', '.join(dupes)}")
    if problems:
        raise ContentError(problems)
    return sorted(entries, key=lambda entry: entry.term.casefold())


@cache
def _load(path: Path, mtime_ns: int) -> tuple[Entry, ...]:
    return tuple(parse_glossary(path.read_text(encoding="utf-8")))


def load_glossary() -> tuple[Entry, ...]:
    """Every entry, sorted by term; no file means no glossary."""
    path = glossary_path()
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return ()
    return _load(path, mtime)


def terms_for_lesson(slug: str) -> list[Entry]:
    return [entry for entry in load_glossary() if slug in entry.lessons]
