"""manage.py backup / restore: a class's work survives a move to an empty database."""

from __future__ import annotations

import io
import tarfile

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from courseware.models import Attempt, Classroom, LessonProgress
from labs.models import LabRun

from .quiz_helpers import seed_class


def snapshot(classroom_name: str) -> dict:
    """What people see of their work: the gradebook CSV, attempts and runs."""
    instructor = get_user_model().objects.get(username="teacher")
    client = Client()
    client.force_login(instructor)
    classroom = Classroom.objects.get(name=classroom_name)
    gradebook = client.get(reverse("courseware:gradebook_csv", args=[classroom.pk]))
    assert gradebook.status_code == 200
    return {
        "gradebook": gradebook.content.decode(),
        "attempts": sorted(
            (a.user.username, a.question.qid, str(a.answer), a.score, a.created_at.isoformat())
            for a in Attempt.objects.select_related("user", "question")
        ),
        "progress": sorted(
            (p.user.username, p.lesson.slug, p.completed_at is not None)
            for p in LessonProgress.objects.select_related("user", "lesson")
        ),
        "runs": sorted(
            (r.pk, r.user.username, r.lab, r.status, str(r.results)) for r in LabRun.objects.all()
        ),
        "users": sorted(
            (u.username, u.password, [g.name for g in u.groups.all()])
            for u in get_user_model().objects.all()
        ),
    }


def test_backup_restores_into_an_empty_database_with_the_same_gradebook(course, tmp_path):
    from django.contrib.auth.models import Group

    instructor = get_user_model().objects.create_user("teacher", password="not-used-1234")
    instructor.groups.add(Group.objects.get_or_create(name="instructors")[0])
    classroom, _ = seed_class(instructor)
    ana = get_user_model().objects.get(username="ana")
    LabRun.objects.create(
        user=ana,
        lab="boot-race",
        status="succeeded",
        params={"repeats": 3},
        results={"samples": [{"kind": "vm", "seconds": 1.93}], "summary": {"ratio": 77.0}},
    )
    before = snapshot(classroom.name)
    archive = tmp_path / "class.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["data.yaml", "manifest.json"]

    # An empty database, as a fresh server's setup leaves it: migrated, course imported.
    call_command("flush", interactive=False, verbosity=0)
    call_command("import_course", stdout=io.StringIO())
    assert not get_user_model().objects.exists()

    out = io.StringIO()
    call_command("restore", str(archive), stdout=out)
    assert "Restored" in out.getvalue()
    assert snapshot(classroom.name) == before

    # Restoring twice would mix two histories: refused, nothing changed.
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(archive))
    assert snapshot(classroom.name) == before


def test_a_damaged_archive_changes_nothing(db, tmp_path):
    archive = tmp_path / "class.tar.gz"
    call_command("backup", str(archive), stdout=io.StringIO())
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(CommandError, match="not a virtlab backup"):
        call_command("restore", str(broken))
    with pytest.raises(CommandError, match="No such file"):
        call_command("restore", str(tmp_path / "missing.tar.gz"))
