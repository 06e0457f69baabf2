"""The course glossary: ``glossary.yaml`` beside the lessons in the content folder.

It is content, like the lessons, but not imported into the database: the glossary page
and each lesson's "Terms in this lesson" read the file (cached until it changes). A
malformed file is an error naming the problem, never a silently shorter glossary.

``export_course DIR`` writes the file the site serves into DIR as it is (comments
included); ``import_course DIR`` checks DIR's file with the lessons before anything is
imported and, once they are, puts it where the site reads it: the round trip keeps
the glossary byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import yaml
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from virtlab import yamltext
from virtlab.files import replace_file

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
    """The glossary served: the one an import installed, else the shipped one."""
    installed = Path(settings.VIRTLAB_GLOSSARY_INSTALLED)
    return installed if installed.is_file() else Path(settings.VIRTLAB_CONTENT_DIR) / GLOSSARY_FILE


def parse_glossary(text: str, where: str = GLOSSARY_FILE) -> list[Entry]:
    try:
        data = yamltext.load(text)
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


# -- the first use of each term in a lesson links to its entry ------------------------

_TAG_RE = re.compile(r"(<[^>]*>)")  # nh3's output escapes every < and > in text
_TAG_NAME_RE = re.compile(r"^<(/?)([a-zA-Z][a-zA-Z0-9]*)")
_ENTITY_RE = re.compile(r"(&#?[A-Za-z0-9]+;)")
# Never linked inside: a link, code, headings (the table of contents names them),
# and the clickable parts of details and tabs.
NO_LINK_INSIDE = frozenset(
    {"a", "code", "pre", "kbd", "samp", "var", "h1", "h2", "h3", "h4", "h5", "h6",
     "summary", "label"}
)  # fmt: skip


def _first_match(text: str, pending: list[Entry]) -> tuple[re.Match, Entry] | None:
    found = None
    for entry in pending:
        match = entry.match.search(text)
        if match and match.group() and (found is None or match.start() < found[0].start()):
            found = (match, entry)
    return found


def _link_in_text(text: str, pending: list[Entry], url: str) -> str:
    """Link the earliest term of ``pending`` in one run of escaped text (entities are
    left whole), then the next, until none is left in it."""
    out = []
    for part in _ENTITY_RE.split(text):
        if _ENTITY_RE.fullmatch(part):
            out.append(part)
            continue
        while pending and (found := _first_match(part, pending)):
            match, entry = found
            out.append(part[: match.start()])
            out.append(f'<a class="glossary-link" href="{url}#{entry.id}">{match.group()}</a>')
            part = part[match.end() :]
            pending.remove(entry)
        out.append(part)
    return "".join(out)


@lru_cache(maxsize=64)
def _link_first_uses(html: str, entries: tuple[Entry, ...], url: str) -> str:
    pending = list(entries)
    inside: dict[str, int] = {}
    out = []
    for token in _TAG_RE.split(html):
        tag = _TAG_NAME_RE.match(token)
        if tag:
            name = tag.group(2).lower()
            if name in NO_LINK_INSIDE and not token.endswith("/>"):
                inside[name] = inside.get(name, 0) + (-1 if tag.group(1) else 1)
            out.append(token)
        elif pending and token and not any(inside.values()):
            out.append(_link_in_text(token, pending, url))
        else:
            out.append(token)
    return "".join(out)


def link_first_uses(html: str, entries: list[Entry], url: str) -> SafeString:
    """Lesson HTML (already sanitised) with the first use of each of ``entries`` in its
    text linked to ``url#<id>``, the term's glossary entry. Only text is wrapped: no
    markup is added but these links, whose ids ``parse_glossary`` has checked."""
    return mark_safe(_link_first_uses(html, tuple(entries), url))  # noqa: S308


# -- export and import, with the course files -----------------------------------------


def export_glossary(root: Path) -> Path | None:
    """Write the glossary the site serves into ``root``; None when there is none."""
    source = glossary_path()
    if not source.is_file():
        return None
    target = root / GLOSSARY_FILE
    target.write_bytes(source.read_bytes())
    return target


def read_glossary_file(root: Path, lesson_slugs: set[str]) -> str | None:
    """The text of ``root``'s glossary once it is checked: well-formed, and every
    lesson it lists is one of ``lesson_slugs``. None when ``root`` has no glossary."""
    path = root / GLOSSARY_FILE
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError([f"{GLOSSARY_FILE}: not UTF-8 text"]) from exc
    problems = [
        f"{GLOSSARY_FILE}: {entry.id}: no lesson {slug!r}"
        for entry in parse_glossary(text)
        for slug in entry.lessons
        if slug not in lesson_slugs
    ]
    if problems:
        raise ContentError(problems)
    return text


def install_glossary(text: str) -> str:
    """Make ``text`` the glossary the site serves: "created", "updated" or "unchanged".
    Replaced in one step, so a reader never sees half a file."""
    served = glossary_path()
    if served.is_file() and served.read_text(encoding="utf-8") == text:
        return "unchanged"
    state = "updated" if served.exists() else "created"
    target = Path(settings.VIRTLAB_GLOSSARY_INSTALLED)
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_file(target, text.encode("utf-8"))
    return state
