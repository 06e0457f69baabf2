"""Guided exercises as files: ``<lesson>/exercises/<slug>/steps.md`` and the check
scripts beside it (docs/exercises.md is the authors' reference).

``steps.md`` is YAML front matter (title, summary, the default sandbox), an intro in
Markdown, then one ``## `` heading per step. A step's section is its instructions in
Markdown plus exactly one fenced block whose info string is ``step``, holding YAML:

    ```step
    check: check-kernel.sh     # required: a file beside steps.md
    sandbox: vm                # optional: container or vm (default: the front matter's)
    timeout: 10                # optional: seconds, at most 30
    hints:                     # optional: Markdown, revealed one at a time
      - Try `uname -r`.
    ```

The check script's file name is the step's identity (completions are kept by it), so
each step has its own script. Like the quiz files, everything is validated before
anything is written, and every problem is reported as "file[:line]: reason".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from virtlab import yamltext

from .errors import ContentError

EXERCISES_DIR = "exercises"
STEPS_FILE = "steps.md"
SANDBOXES = ("container", "vm")
DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 30
MAX_SCRIPT_BYTES = 16 * 1024
MAX_HINTS = 10
SCRIPT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*\.sh$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*\n?(.*)\Z", re.S | re.M)
FENCE_RE = re.compile(r"^(```+|~~~+)\s*([\w-]*)")
FRONT_FIELDS = {"title", "summary", "sandbox"}
STEP_FIELDS = {"check", "sandbox", "timeout", "hints"}


@dataclass
class StepSpec:
    key: str  # the check script's name without ".sh": stable, completions hang off it
    title: str
    instructions: str  # Markdown, the step block taken out
    script_name: str
    script: str
    sandbox: str
    timeout: int
    hints: list[str] = field(default_factory=list)


@dataclass
class ExerciseSpec:
    slug: str
    title: str
    summary: str
    intro: str
    steps: list[StepSpec]

    @property
    def sandboxes(self) -> list[str]:
        """The sandbox kinds its steps use, in the order they first appear."""
        return list(dict.fromkeys(step.sandbox for step in self.steps))


def read_exercise_files(lesson_dir: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """``{slug: {file name: text}}`` for every exercise folder under ``lesson_dir``,
    and the problems met reading them (symbolic links, nested folders, non-text)."""
    root = lesson_dir / EXERCISES_DIR
    found: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    if not root.exists():
        return found, problems
    where_root = f"{lesson_dir.name}/{EXERCISES_DIR}"
    if root.is_symlink() or not root.is_dir():
        return found, [f"{where_root}: must be a folder of exercise folders"]
    for folder in sorted(root.iterdir()):
        where = f"{where_root}/{folder.name}"
        if folder.is_symlink() or not folder.is_dir():
            problems.append(f"{where}: not an exercise folder (exercises/<slug>/steps.md)")
            continue
        files: dict[str, str] = {}
        for path in sorted(folder.iterdir()):
            if path.is_symlink() or not path.is_file():
                problems.append(f"{where}/{path.name}: not a plain file (no links or folders)")
                continue
            try:
                files[path.name] = path.read_text(encoding="utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError as exc:
                problems.append(f"{where}/{path.name}: not UTF-8 text (byte {exc.start})")
        found[folder.name] = files
    return found, problems


def _split_steps(body: str) -> tuple[str, list[tuple[int, str, list[str]]]]:
    """The intro, and each step as (line number in the body, heading, lines), where a
    step starts at a ``## `` heading outside fenced code."""
    intro: list[str] = []
    steps: list[tuple[int, str, list[str]]] = []
    fence = ""
    for number, line in enumerate(body.split("\n"), start=1):
        if fence:
            if line.strip().startswith(fence):
                fence = ""
        elif match := FENCE_RE.match(line.strip()):
            fence = match.group(1)
        elif line.startswith("## "):
            steps.append((number, line[3:].strip(), []))
            continue
        (steps[-1][2] if steps else intro).append(line)
    return "\n".join(intro).strip(), steps


def _step_block(lines: list[str]) -> tuple[list[str], list[str], int] | None:
    """(instructions without the block, the block's YAML lines, its offset), or None
    when there is no ``step`` block. A second block is left in the instructions and
    reported by the caller."""
    for start, line in enumerate(lines):
        match = FENCE_RE.match(line)
        if match and match.group(2) == "step":
            for end in range(start + 1, len(lines)):
                if lines[end].strip().startswith(match.group(1)):
                    return lines[:start] + lines[end + 1 :], lines[start + 1 : end], start
            return lines[:start], lines[start + 1 :], start
    return None


def parse_exercise(slug: str, files: dict[str, str], where: str) -> ExerciseSpec:
    """Validate one exercise folder's files; raises ContentError listing every problem."""
    problems: list[str] = []
    if not SLUG_RE.match(slug):
        problems.append(f"{where}: the folder name must be a slug (lowercase, digits, hyphens)")
    if STEPS_FILE not in files:
        raise ContentError([*problems, f"{where}/{STEPS_FILE}: missing"])
    steps_where = f"{where}/{STEPS_FILE}"
    text = files[STEPS_FILE].replace("\r\n", "\n")
    match = FRONT_MATTER_RE.match(text)
    if not match:
        raise ContentError(
            [*problems, f"{steps_where}: must start with YAML front matter between '---' lines"]
        )
    try:
        meta = yamltext.load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ContentError(
            [*problems, f"{steps_where}: invalid YAML front matter: {exc}"]
        ) from None
    if not isinstance(meta, dict):
        raise ContentError([*problems, f"{steps_where}: the front matter must be a mapping"])
    body_offset = match.group(1).count("\n") + 2  # the body's first line, minus one
    if extra := sorted(map(str, set(meta) - FRONT_FIELDS)):
        problems.append(f"{steps_where}: unknown field(s): {', '.join(extra)}")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(f"{steps_where}: 'title' is required (non-empty text)")
        title = ""
    summary = meta.get("summary") or ""
    if not isinstance(summary, str):
        problems.append(f"{steps_where}: 'summary' must be text")
        summary = ""
    default_sandbox = meta.get("sandbox", "container")
    if default_sandbox not in SANDBOXES:
        problems.append(
            f"{steps_where}: sandbox {default_sandbox!r} is unknown; use container or vm"
        )
        default_sandbox = "container"
    intro, raw_steps = _split_steps(match.group(2))
    if not raw_steps:
        problems.append(f"{steps_where}: no steps; each step starts with a '## ' heading")
    steps: list[StepSpec] = []
    used: dict[str, int] = {}
    for number, heading, lines in raw_steps:
        at = f"{steps_where}:{body_offset + number}"
        step = _parse_step(heading, lines, at, default_sandbox, files, problems)
        if step is None:
            continue
        if step.script_name in used:
            problems.append(
                f"{at}: {step.script_name} is already the check of the step at line "
                f"{used[step.script_name]}; each step has its own script"
            )
            continue
        used[step.script_name] = body_offset + number
        steps.append(step)
    for name in sorted(set(files) - {STEPS_FILE} - set(used)):
        problems.append(f"{where}/{name}: no step uses this file; remove it or name it in a step")
    if problems:
        raise ContentError(problems)
    return ExerciseSpec(slug, title.strip(), summary.strip(), intro, steps)


def _parse_step(
    heading: str,
    lines: list[str],
    at: str,
    default_sandbox: str,
    files: dict[str, str],
    problems: list[str],
) -> StepSpec | None:
    before = len(problems)
    if not heading:
        problems.append(f"{at}: a step needs a title after '## '")
    found = _step_block(lines)
    if found is None:
        problems.append(f"{at}: step {heading!r} has no ```step block naming its check script")
        return None
    instructions, block, _ = found
    if _step_block(instructions) is not None:
        problems.append(f"{at}: step {heading!r} has more than one ```step block")
    try:
        data = yamltext.load("\n".join(block)) or {}
    except yaml.YAMLError as exc:
        problems.append(f"{at}: step {heading!r}: invalid YAML in its step block: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{at}: step {heading!r}: the step block must be a mapping")
        return None
    if extra := sorted(map(str, set(data) - STEP_FIELDS)):
        problems.append(f"{at}: step {heading!r}: unknown field(s): {', '.join(extra)}")
    script_name = data.get("check")
    script = ""
    if not isinstance(script_name, str) or not script_name:
        problems.append(f"{at}: step {heading!r}: 'check' (its script's file name) is required")
        script_name = ""
    elif "/" in script_name or "\\" in script_name or script_name.startswith("."):
        problems.append(
            f"{at}: step {heading!r}: check {script_name!r} must be a file name beside "
            f"{STEPS_FILE}, not a path"
        )
    elif not SCRIPT_NAME_RE.match(script_name):
        problems.append(
            f"{at}: step {heading!r}: check {script_name!r} must be named like "
            "check-something.sh (lowercase letters, digits, - and _)"
        )
    elif script_name not in files:
        problems.append(f"{at}: step {heading!r}: check script {script_name} is missing")
    else:
        script = files[script_name].replace("\r\n", "\n")
        if not script.strip():
            problems.append(f"{at}: step {heading!r}: check script {script_name} is empty")
        elif len(script.encode()) > MAX_SCRIPT_BYTES:
            problems.append(
                f"{at}: step {heading!r}: check script {script_name} is longer than "
                f"{MAX_SCRIPT_BYTES // 1024} KiB"
            )
    sandbox = data.get("sandbox", default_sandbox)
    if sandbox not in SANDBOXES:
        problems.append(
            f"{at}: step {heading!r}: sandbox {sandbox!r} is unknown; use container or vm"
        )
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        problems.append(f"{at}: step {heading!r}: timeout must be a whole number of seconds ≥ 1")
    elif timeout > MAX_TIMEOUT:
        problems.append(
            f"{at}: step {heading!r}: timeout {timeout} s is too long; at most {MAX_TIMEOUT} s"
        )
    hints = data.get("hints") or []
    if not isinstance(hints, list) or not all(isinstance(h, str) and h.strip() for h in hints):
        problems.append(f"{at}: step {heading!r}: 'hints' must be a list of text items")
        hints = []
    elif len(hints) > MAX_HINTS:
        problems.append(f"{at}: step {heading!r}: at most {MAX_HINTS} hints")
    if len(problems) > before:
        return None
    return StepSpec(
        key=script_name.removesuffix(".sh"),
        title=heading,
        instructions="\n".join(instructions).strip(),
        script_name=script_name,
        script=script,
        sandbox=sandbox,
        timeout=timeout,
        hints=[h.strip() for h in hints],
    )


def parse_exercises(
    exercises: dict[str, dict[str, str]], lesson_dir: str
) -> tuple[list[ExerciseSpec], list[str]]:
    """Every exercise of a lesson, in folder-name order, and every problem found."""
    specs: list[ExerciseSpec] = []
    problems: list[str] = []
    for slug in sorted(exercises):
        try:
            specs.append(
                parse_exercise(slug, exercises[slug], f"{lesson_dir}/{EXERCISES_DIR}/{slug}")
            )
        except ContentError as exc:
            problems += exc.problems
    return specs, problems


SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def write_exercise_files(lesson_dir: Path, exercises: dict[str, dict[str, str]]) -> list[Path]:
    """Write the exercises back in the layout ``read_exercise_files`` reads. A name
    that would leave its folder is refused (a draft's files were never validated)."""
    written: list[Path] = []
    for slug, files in sorted(exercises.items()):
        bad = [name for name in files if not SAFE_NAME_RE.match(name)]
        if not SLUG_RE.match(slug) or bad:
            raise ContentError(
                [f"{lesson_dir.name}/{EXERCISES_DIR}/{slug}: unsafe file name(s), not written"]
            )
        folder = lesson_dir / EXERCISES_DIR / slug
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in sorted(files.items()):
            (folder / name).write_text(text, encoding="utf-8")
            written.append(folder / name)
    return written
