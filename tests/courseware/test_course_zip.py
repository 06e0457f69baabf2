"""The course as a zip: download, review before applying, apply in one go, and the
zips that are refused whole (traversal, absolute paths, links, bombs, floods)."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from courseware.authoring import coursezip, revisions
from courseware.models import CourseUpload, Lesson, LessonRevision

SLUG = "hypervisor-types"


def download(client, drafts=False) -> bytes:
    url = reverse("courseware:author_download") + ("?drafts=1" if drafts else "")
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    return response.content


def upload(client, data: bytes, name="course.zip"):
    return client.post(
        reverse("courseware:author_upload"),
        {"zip": SimpleUploadedFile(name, data, content_type="application/zip")},
    )


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def make_zip(files: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_download_upload_review_and_apply_round_trip(course, instructor, instructor_client):
    lesson = Lesson.objects.get(slug=SLUG)
    exported = download(instructor_client)
    files = entries(exported)
    assert "course/course.yaml" in files and f"course/{lesson.source_dir}/index.md" in files

    # Change the lesson on the site after the download ...
    revision, _ = revisions.save_revision(
        lesson,
        {**revisions.published_content(lesson), "title": "Changed on the site"},
        author=instructor,
        based_on=None,
    )
    revisions.publish(revision, by=instructor)
    before = lesson.revisions.count()

    # ... then upload the download: the review says exactly what would change.
    response = upload(instructor_client, exported)
    assert response.status_code == 302
    review = instructor_client.get(response["Location"])
    page = review.content.decode()
    assert review.status_code == 200 and f"lesson {SLUG}" in page and "Apply" in page
    lesson.refresh_from_db()
    assert lesson.title == "Changed on the site"  # reviewing changes nothing
    assert lesson.revisions.count() == before

    applied = instructor_client.post(response["Location"])
    assert applied.status_code == 302
    lesson.refresh_from_db()
    assert lesson.title != "Changed on the site"
    newest = revisions.newest(lesson)
    assert newest.origin == LessonRevision.Origin.ZIP and newest.author == instructor
    assert lesson.revisions.filter(content__title="Changed on the site").exists()  # kept
    assert CourseUpload.objects.get().applied_at is not None
    # Applying the same upload twice does nothing more.
    instructor_client.post(response["Location"])
    assert lesson.revisions.count() == before + 1


def test_the_export_leaves_out_the_trash_and_unpublished_browser_lessons(
    course, instructor, instructor_client
):
    module = course.modules.first()
    draft_only = Lesson.objects.create(
        module=module,
        slug="not-yet",
        title="Not yet",
        order=50,
        published=False,
        source_dir="50-not-yet",
    )
    revisions.start_history(draft_only, {"title": "Not yet", "body": "Soon.\n"}, author=instructor)
    trashed = Lesson.objects.get(slug=SLUG)
    instructor_client.post(reverse("courseware:author_trash", args=[trashed.slug]))

    names = entries(download(instructor_client))
    assert not any(trashed.source_dir in name for name in names)
    assert not any("not-yet" in name for name in names)
    with_drafts = entries(download(instructor_client, drafts=True))
    assert b"Soon." in with_drafts["course/50-not-yet/index.md"]


@pytest.mark.parametrize(
    ("files", "links", "reason"),
    [
        ({"course/course.yaml": b"x", "../evil.md": b"x"}, (), "climbs out"),
        ({"course/course.yaml": b"x", "/etc/evil.md": b"x"}, (), "absolute path"),
        ({"course/course.yaml": b"x"}, ("course/01-x/index.md",), "symbolic link"),
        ({"course/course.yaml": b"x", "course/run.py": b"x"}, (), "not a course file"),
        ({f"course/{n:04d}.md": b"" for n in range(coursezip.MAX_FILES + 1)}, (), "at most"),
        ({"course/course.yaml": b"x", "course/bomb.md": b"\0" * (21 * 2**20)}, (), "zip bomb"),
    ],
    ids=["traversal", "absolute", "symlink", "suffix", "too-many-files", "bomb"],
)
def test_unsafe_zips_are_refused_whole_and_change_nothing(
    course, instructor_client, tmp_path, files, links, reason
):
    data = make_zip(files, links)
    before = (Lesson.objects.count(), LessonRevision.objects.count())
    response = upload(instructor_client, data)
    review = instructor_client.get(response["Location"])
    assert review.status_code == 422
    assert reason in review.content.decode()
    assert instructor_client.post(response["Location"]).status_code == 422
    assert (Lesson.objects.count(), LessonRevision.objects.count()) == before
    # Unpacking into a folder of our own writes nothing beside it.
    target = tmp_path / "inside"
    target.mkdir()
    with pytest.raises(coursezip.UnsafeZip):
        coursezip.unpack(data, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inside"]


def test_a_bad_lesson_file_is_rejected_with_its_line(course, instructor_client):
    files = entries(download(instructor_client))
    name = next(n for n in files if n.endswith("quiz.yaml"))
    files[name] = files[name].replace(b"type: single", b"type: nonsense", 1)
    response = upload(instructor_client, make_zip(files))
    page = instructor_client.get(response["Location"]).content.decode()
    assert "cannot be imported" in page and "quiz.yaml:" in page


def test_another_course_and_non_zips_are_refused(course, instructor_client):
    files = entries(download(instructor_client))
    files["course/course.yaml"] = files["course/course.yaml"].replace(b"slug: ", b"slug: other-", 1)
    response = upload(instructor_client, make_zip(files))
    assert "course is" in instructor_client.get(response["Location"]).content.decode()
    response = upload(instructor_client, b"not a zip at all")
    assert "not a zip file" in instructor_client.get(response["Location"]).content.decode()


def test_an_upload_is_only_reviewed_by_who_uploaded_it(course, instructor_client, db):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from virtlab.roles import instructors_group

    response = upload(instructor_client, download(instructor_client))
    other = get_user_model().objects.create_user("other-teacher", password="x")
    other.groups.add(instructors_group())
    client = Client()
    client.force_login(other)
    assert client.get(response["Location"]).status_code == 404
    assert client.post(response["Location"]).status_code == 404
