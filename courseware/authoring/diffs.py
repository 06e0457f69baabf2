"""Differences between two revisions, shown as the files an author would recognise.

A revision is compared as the two files it would export to (``index.md`` with its
front matter, and ``quiz.yaml``), line by line, either side by side or unified.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml

from ..coursefiles.quiz_files import QUIZ_FILE


def as_files(content: dict[str, Any]) -> dict[str, str]:
    """The editable part of a lesson as file text (outline fields such as the order
    and module are not versioned, so they are left out)."""
    meta = {
        "title": content.get("title", ""),
        "summary": content.get("summary", ""),
        "objectives": content.get("objectives", []),
        "labs": content.get("labs", []),
    }
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=88)
    files = {
        "index.md": f"---\n{front}---\n\n{content.get('body', '')}",
        QUIZ_FILE: content.get("quiz", ""),
    }
    for slug, exercise in sorted((content.get("exercises") or {}).items()):
        for name, text in sorted(exercise.items()):
            files[f"exercises/{slug}/{name}"] = text
    return files


@dataclass
class Row:
    """One line of a side-by-side diff; a number is None where that side has no line."""

    kind: str  # "same", "changed", "removed", "added"
    old_number: int | None
    old_text: str
    new_number: int | None
    new_text: str


@dataclass
class FileDiff:
    name: str
    rows: list[Row]
    unified: list[tuple[str, str]]  # (kind, line) with "+"/"-"/" " prefixes, "@@" hunks
    changed: bool


def side_by_side(old: str, new: str) -> list[Row]:
    a, b = old.splitlines(), new.splitlines()
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                Row("same", i + 1, a[i], j + 1, b[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        left, right = list(range(i1, i2)), list(range(j1, j2))
        for k in range(max(len(left), len(right))):
            i = left[k] if k < len(left) else None
            j = right[k] if k < len(right) else None
            kind = (
                "changed"
                if i is not None and j is not None
                else ("removed" if j is None else "added")
            )
            rows.append(
                Row(
                    kind,
                    None if i is None else i + 1,
                    "" if i is None else a[i],
                    None if j is None else j + 1,
                    "" if j is None else b[j],
                )
            )
    return rows


def unified(old: str, new: str, old_label: str, new_label: str) -> list[tuple[str, str]]:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_label, new_label, lineterm="", n=3
    )
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    return [(kinds.get(line[:1], "same"), line) for line in lines]


def compare(
    old: dict[str, Any], new: dict[str, Any], old_label: str, new_label: str
) -> list[FileDiff]:
    """Both files of two revisions' content, compared."""
    before, after = as_files(old), as_files(new)
    for name in {*before, *after}:  # an exercise file on one side only compares with ""
        before.setdefault(name, "")
        after.setdefault(name, "")
    return [
        FileDiff(
            name=name,
            rows=side_by_side(before[name], after[name]),
            unified=unified(
                before[name], after[name], f"{old_label}/{name}", f"{new_label}/{name}"
            ),
            changed=before[name] != after[name],
        )
        for name in before
    ]
