"""The course as a zip: download it, and upload one to import (report first, then apply).

An uploaded zip is untrusted. Before anything is unpacked every entry is checked: no
absolute paths or ``..``, no symbolic links or other special files, only the file
kinds a course has, and limits on the number of files and on the bytes they unpack
to — counted while unpacking, not taken from the zip's own headers, which a zip bomb
would lie in. Whatever is refused is refused whole, with the reason.
"""

from __future__ import annotations

import io
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.db import transaction

from ..coursefiles.errors import ContentError
from ..coursefiles.lesson_files import COURSE_FILE, parse_course_file
from ..coursefiles.sync import ImportReport, course_export, course_import
from ..models import Course, LessonRevision

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the zip itself
MAX_UNPACKED_BYTES = 20 * 1024 * 1024  # everything in it, unpacked
MAX_FILES = 500
ALLOWED_SUFFIXES = {".yaml", ".yml", ".md", ".sh", ".png", ".jpg", ".jpeg", ".svg"}
TOP_FOLDER = "course"


class UnsafeZip(ContentError):
    pass


def course_zip(*, drafts: bool = False) -> bytes:
    """The course in the layout of ``courseware/content/``, under ``course/``."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="virtlab-export-") as tmp:
        root = Path(tmp)
        course_export(root=root, drafts=drafts)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{TOP_FOLDER}/{path.relative_to(root).as_posix()}")
    return buffer.getvalue()


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    path = PurePosixPath(name)
    mode = info.external_attr >> 16
    if "\\" in name or name.startswith("/") or path.is_absolute() or ":" in path.parts[0]:
        return "an absolute path"
    if ".." in path.parts:
        return "a path that climbs out of the course (..)"
    kind = stat.S_IFMT(mode)  # 0 when the zip tool recorded permissions only
    if kind == stat.S_IFLNK:
        return "a symbolic link"
    if info.is_dir():
        return None
    if kind and kind != stat.S_IFREG:
        return "not a regular file"
    if path.suffix.lower() not in ALLOWED_SUFFIXES:
        return f"not a course file (allowed: {', '.join(sorted(ALLOWED_SUFFIXES))})"
    return None


def unpack(data: bytes, into: Path) -> Path:
    """Check and unpack a course zip; returns the folder holding ``course.yaml``."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UnsafeZip([f"the zip is larger than {MAX_UPLOAD_BYTES // 2**20} MiB"])
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnsafeZip(["this is not a zip file"]) from None
    with archive:
        entries = archive.infolist()
        problems = [
            f"{info.filename}: refused, {problem}"
            for info in entries
            if (problem := _entry_problem(info))
        ]
        files = [info for info in entries if not info.is_dir()]
        if len(files) > MAX_FILES:
            problems.append(f"the zip holds {len(files)} files; at most {MAX_FILES} are accepted")
        if problems:
            raise UnsafeZip(problems)
        unpacked = 0
        for info in files:
            target = into / info.filename
            if not target.resolve().is_relative_to(into.resolve()):  # checked above; twice is cheap
                raise UnsafeZip([f"{info.filename}: refused, a path outside the course"])
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as sink:
                while chunk := source.read(64 * 1024):
                    unpacked += len(chunk)
                    if unpacked > MAX_UNPACKED_BYTES:
                        raise UnsafeZip(
                            [
                                f"the files unpack to more than {MAX_UNPACKED_BYTES // 2**20} "
                                "MiB (a zip bomb?); nothing was imported"
                            ]
                        )
                    sink.write(chunk)
    roots = sorted({p.parent for p in into.rglob(COURSE_FILE)}, key=lambda p: len(p.parts))
    if not roots:
        raise UnsafeZip([f"there is no {COURSE_FILE} in the zip"])
    _refuse_another_course(roots[0])
    return roots[0]


def _refuse_another_course(root: Path) -> None:
    """The site holds one course; a zip of another would quietly create a second one."""
    here = Course.objects.order_by("pk").first()
    theirs = parse_course_file(root / COURSE_FILE).slug
    if here is not None and theirs != here.slug:
        raise UnsafeZip(
            [
                f"{COURSE_FILE}: this zip holds the course {theirs!r}, but this site's "
                f"course is {here.slug!r}; export this site's course to start from"
            ]
        )


class _DryRun(Exception):
    pass


@dataclass
class ZipReport:
    """What importing a zip does, or why it cannot."""

    report: ImportReport | None = None
    rejected: list[str] = field(default_factory=list)

    @property
    def can_apply(self) -> bool:
        return self.report is not None and not self.rejected


def preview(data: bytes) -> ZipReport:
    """What importing this zip would create, update and leave unchanged — computed by
    running the import itself and rolling it back, so the report is exact."""
    with tempfile.TemporaryDirectory(prefix="virtlab-upload-") as tmp:
        try:
            root = unpack(data, Path(tmp))
            with transaction.atomic():
                report = course_import(root=root, origin=LessonRevision.Origin.ZIP)
                raise _DryRun
        except _DryRun:
            return ZipReport(report=report)
        except ContentError as exc:
            return ZipReport(rejected=exc.problems)


def apply(data: bytes, *, by) -> ImportReport:
    """Import the zip for real, in one transaction; every changed lesson gets a revision
    attributed to ``by``."""
    with tempfile.TemporaryDirectory(prefix="virtlab-upload-") as tmp:
        root = unpack(data, Path(tmp))
        return course_import(root=root, origin=LessonRevision.Origin.ZIP, author=by)
