"""Reading and writing the course as files (docs/architecture.md, "Content as files").

Layout: ``course.yaml`` (course and modules) and one ``<NN>-<slug>/`` folder per
lesson holding ``index.md`` (YAML front matter + Markdown). Parsing is separate from
importing so a whole directory is validated before anything touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from virtlab import yamltext

from ..quizzes.grading import is_prediction
from ..quizzes.predictions import lesson_lab_problems, measure_problem
from .errors import ContentError
from .exercise_files import ExerciseSpec, parse_exercises, read_exercise_files, write_exercise_files
from .images import IMAGES_DIR, image_problem
from .quiz_files import QUIZ_FILE, QuizFileError, QuizSpec, parse_quiz

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LESSON_DIR_RE = re.compile(r"^\d+-[a-z0-9-]+$")
FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*\n?(.*)\Z", re.S | re.M)
COURSE_FILE = "course.yaml"
LESSON_FILE = "index.md"


@dataclass
class ModuleSpec:
    slug: str
    title: str
    order: int


@dataclass
class CourseSpec:
    slug: str
    title: str
    description: str
    modules: list[ModuleSpec]


@dataclass
class LessonSpec:
    source_dir: str
    slug: str
    title: str
    order: int
    module: str
    summary: str
    objectives: list[str]
    labs: list[str]
    body: str
    published: bool = True
    extra_files: dict[str, str] = field(default_factory=dict)  # e.g. {"quiz.yaml": text}
    images: dict[str, bytes] = field(default_factory=dict)  # images/<name> → its bytes
    quiz: QuizSpec | None = None  # parsed and validated from extra_files["quiz.yaml"]
    # exercises/<slug>/<file> → its text, as written; parsed into ``exercise_specs``.
    exercises: dict[str, dict[str, str]] = field(default_factory=dict)
    exercise_specs: list[ExerciseSpec] = field(default_factory=list)


@dataclass
class CourseContent:
    course: CourseSpec
    lessons: list[LessonSpec]


def normalise_body(text: str) -> str:
    """Bodies are stored without leading blank lines and with one final newline."""
    text = text.lstrip("\n").rstrip()
    return text + "\n" if text else ""


def _yaml_load(text: str, where: str) -> Any:
    try:
        return yamltext.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ContentError([f"{where}:{line} invalid YAML: {reason}"]) from exc


class _Checker:
    """Collects every problem in a mapping instead of stopping at the first."""

    def __init__(self, data: Any, where: str):
        self.where = where
        self.problems: list[str] = []
        if not isinstance(data, dict):
            self.problems.append(f"{where}: expected a mapping of fields")
            data = {}
        self.data = data

    def fail(self, message: str) -> None:
        self.problems.append(f"{self.where}: {message}")

    def text(self, key: str, *, required: bool = True, default: str = "") -> str:
        value = self.data.get(key, None)
        if value is None:
            if required:
                self.fail(f"'{key}' is required")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(f"'{key}' must be non-empty text")
            return default
        return value.strip()

    def slug(self, key: str) -> str:
        value = self.text(key)
        if value and not SLUG_RE.match(value):
            self.fail(f"'{key}' {value!r} must be lowercase letters, digits and hyphens")
        return value

    def integer(self, key: str, *, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(f"'{key}' must be a whole number ≥ 0")
            return 0
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"'{key}' must be true or false")
            return default
        return value

    def text_list(self, key: str, *, slugs: bool = False) -> list[str]:
        value = self.data.get(key, [])
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"'{key}' must be a list of text items")
            return []
        if slugs and (bad := [v for v in value if not SLUG_RE.match(v)]):
            self.fail(f"'{key}' has items that are not slugs: {', '.join(bad)}")
        return [v.strip() for v in value]

    def unknown(self, allowed: set[str]) -> None:
        if extra := sorted(set(self.data) - allowed):
            self.fail(f"unknown field(s): {', '.join(map(str, extra))}")


def read_text(path: Path, where: str) -> str:
    """A content file's text; a file that is not UTF-8 is named as the problem."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError(
            [f"{where}: not UTF-8 text (byte {exc.start}); save it as UTF-8"]
        ) from None


def parse_course_file(path: Path) -> CourseSpec:
    where = path.name
    check = _Checker(_yaml_load(read_text(path, where), where), where)
    check.unknown({"slug", "title", "description", "modules"})
    modules: list[ModuleSpec] = []
    raw_modules = check.data.get("modules")
    if not isinstance(raw_modules, list) or not raw_modules:
        check.fail("'modules' must be a non-empty list")
        raw_modules = []
    for index, raw in enumerate(raw_modules, start=1):
        sub = _Checker(raw, f"{where}: module {index}")
        sub.unknown({"slug", "title", "order"})
        modules.append(ModuleSpec(sub.slug("slug"), sub.text("title"), sub.integer("order")))
        check.problems += sub.problems
    seen = [m.slug for m in modules]
    if dupes := sorted({s for s in seen if seen.count(s) > 1}):
        check.fail(f"duplicate module slug(s): {', '.join(dupes)}")
    spec = CourseSpec(
        slug=check.slug("slug"),
        title=check.text("title"),
        description=check.text("description", required=False),
        modules=modules,
    )
    if check.problems:
        raise ContentError(check.problems)
    return spec


def split_front_matter(text: str, where: str) -> tuple[Any, str]:
    match = FRONT_MATTER_RE.match(text.replace("\r\n", "\n"))
    if not match:
        raise ContentError([f"{where}: must start with YAML front matter between '---' lines"])
    return _yaml_load(match.group(1), where), match.group(2)


LESSON_FIELDS = {"title", "slug", "order", "module", "summary", "objectives", "labs", "published"}


def parse_lesson_dir(directory: Path, module_slugs: set[str]) -> LessonSpec:
    where = f"{directory.name}/{LESSON_FILE}"
    index = directory / LESSON_FILE
    if not index.is_file():
        raise ContentError([f"{where}: missing"])
    meta, body = split_front_matter(read_text(index, where), where)
    misnamed = directory / "quiz.yml"
    if misnamed.is_file():
        # Read as an extra file it would be kept but never imported: the quiz would
        # silently retire. Say so instead.
        raise ContentError([f"{directory.name}/quiz.yml: a quiz must be named {QUIZ_FILE}"])
    check = _Checker(meta, where)
    check.unknown(LESSON_FIELDS)
    module = check.slug("module")
    if module and module not in module_slugs:
        check.fail(f"module {module!r} is not listed in {COURSE_FILE}")
    spec = LessonSpec(
        source_dir=directory.name,
        slug=check.slug("slug"),
        title=check.text("title"),
        order=check.integer("order"),
        module=module,
        summary=check.text("summary", required=False),
        objectives=check.text_list("objectives"),
        labs=check.text_list("labs", slugs=True),
        body=normalise_body(body),
        published=check.boolean("published", default=True),
        extra_files={
            p.name: read_text(p, f"{directory.name}/{p.name}")
            for p in sorted(directory.iterdir())
            if p.is_file() and p.name != LESSON_FILE and p.suffix in {".yaml", ".yml"}
        },
    )
    spec.images, problems = _read_images(directory)
    check.problems += problems
    spec.exercises, problems = read_exercise_files(directory)
    check.problems += problems
    check.problems += check_lesson_links_and_quiz(spec)
    if check.problems:
        raise ContentError(check.problems)
    return spec


def _read_images(directory: Path) -> tuple[dict[str, bytes], list[str]]:
    folder = directory / IMAGES_DIR
    images: dict[str, bytes] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return images, problems
    for path in sorted(folder.iterdir()):
        where = f"{directory.name}/{IMAGES_DIR}/{path.name}"
        if path.is_symlink() or not path.is_file():
            problems.append(f"{where}: not a plain file")
            continue
        data = path.read_bytes()
        if problem := image_problem(path.name, data):
            problems.append(f"{where}: {problem}")
        else:
            images[path.name] = data
    return images, problems


def check_lesson_links_and_quiz(spec: LessonSpec) -> list[str]:
    """What a lesson's files must satisfy beyond their own syntax, whether they come
    from a folder or from the browser's editor: the labs it names exist, its quiz
    (parsed into ``spec.quiz`` here) is valid and measurable, and its exercises
    (parsed into ``spec.exercise_specs``) are complete."""
    # The lesson's ``labs:`` is the one record of which labs go with it: a lab it names
    # must exist, or its link (and the lab page's "Goes with") would quietly vanish.
    problems = lesson_lab_problems(f"{spec.source_dir}/{LESSON_FILE}", spec.labs)
    if QUIZ_FILE in spec.extra_files:
        quiz_where = f"{spec.source_dir}/{QUIZ_FILE}"
        try:
            spec.quiz = parse_quiz(spec.extra_files[QUIZ_FILE], quiz_where)
        except QuizFileError as exc:
            problems += exc.problems
        else:
            problems += _prediction_problems(spec.quiz, quiz_where)
    spec.exercise_specs, exercise_problems = parse_exercises(spec.exercises, spec.source_dir)
    return problems + exercise_problems


def _prediction_problems(quiz: QuizSpec, where: str) -> list[str]:
    """A prediction whose lab or summary key does not exist would stay pending for
    ever: refuse it at import instead."""
    return [
        f"{where}: question {question['id']!r}: {problem}"
        for question in quiz.questions
        if is_prediction(question) and (problem := measure_problem(question["measure"]))
    ]


def _duplicate_question_ids(lessons: list[LessonSpec]) -> list[str]:
    """Question ids are stable across the whole course: attempts are keyed by them."""
    where: dict[str, list[str]] = {}
    for lesson in lessons:
        for qid in lesson.quiz.qids if lesson.quiz else []:
            where.setdefault(qid, []).append(f"{lesson.source_dir}/{QUIZ_FILE}")
    return [
        f"question id {qid!r} is used in more than one quiz: {', '.join(files)}"
        for qid, files in sorted(where.items())
        if len(files) > 1
    ]


def read_course(root: Path) -> CourseContent:
    """Parse and validate a whole content directory, reporting every problem found."""
    if not (root / COURSE_FILE).is_file():
        raise ContentError([f"{root}: no {COURSE_FILE} here"])
    course = parse_course_file(root / COURSE_FILE)
    module_slugs = {m.slug for m in course.modules}
    lessons: list[LessonSpec] = []
    problems: list[str] = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        if directory.name.startswith((".", "_")):
            continue  # hidden or private folders (editor state, drafts) are not lessons
        if not LESSON_DIR_RE.match(directory.name):
            problems.append(
                f"{directory.name}/: not a lesson folder name; lesson folders are named "
                "NN-slug, e.g. 03-emulation-vs-virtualization (start the name with _ to "
                "keep a folder that is not a lesson)"
            )
            continue
        try:
            lessons.append(parse_lesson_dir(directory, module_slugs))
        except ContentError as exc:
            problems += exc.problems
    slugs = [lesson.slug for lesson in lessons]
    if dupes := sorted({s for s in slugs if slugs.count(s) > 1}):
        problems.append(f"{root.name}: duplicate lesson slug(s): {', '.join(dupes)}")
    problems += _duplicate_question_ids(lessons)
    if problems:
        raise ContentError(problems)
    return CourseContent(course=course, lessons=lessons)


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)


def lesson_file_text(spec: LessonSpec) -> str:
    meta: dict[str, Any] = {
        "title": spec.title,
        "slug": spec.slug,
        "order": spec.order,
        "module": spec.module,
        "summary": spec.summary,
        "objectives": spec.objectives,
        "labs": spec.labs,
    }
    if not spec.published:
        meta["published"] = False
    return f"---\n{dump_yaml(meta)}---\n\n{spec.body}"


def course_file_text(course: CourseSpec) -> str:
    return dump_yaml(
        {
            "title": course.title,
            "slug": course.slug,
            "description": course.description,
            "modules": [
                {"slug": m.slug, "title": m.title, "order": m.order} for m in course.modules
            ],
        }
    )


def write_course(root: Path, content: CourseContent) -> list[Path]:
    """Write the layout ``read_course`` reads; returns the files written."""
    root.mkdir(parents=True, exist_ok=True)
    written = [root / COURSE_FILE]
    written[0].write_text(course_file_text(content.course), encoding="utf-8")
    for spec in content.lessons:
        directory = root / spec.source_dir
        directory.mkdir(exist_ok=True)
        (directory / LESSON_FILE).write_text(lesson_file_text(spec), encoding="utf-8")
        written.append(directory / LESSON_FILE)
        for name, text in spec.extra_files.items():
            (directory / name).write_text(text, encoding="utf-8")
            written.append(directory / name)
        if spec.images:
            (directory / IMAGES_DIR).mkdir(exist_ok=True)
        for name, data in spec.images.items():
            (directory / IMAGES_DIR / name).write_bytes(data)
            written.append(directory / IMAGES_DIR / name)
        written += write_exercise_files(directory, spec.exercises)
    return written
