"""Lesson images: upload in the browser, what is refused, how they are served, and
that they travel with the course files."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from courseware.authoring import revisions
from courseware.coursefiles.errors import ContentError
from courseware.coursefiles.images import image_problem
from courseware.coursefiles.sync import course_export, course_import
from courseware.models import Lesson, LessonImage
from virtlab.rendering import render_markdown

SLUG = "hypervisor-types"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
CLEAN_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">'
    b'<rect width="10" height="10" fill="#1f5fbf"/></svg>'
)


@pytest.fixture
def lesson(course) -> Lesson:
    return Lesson.objects.get(slug=SLUG)


def upload(client, lesson, filename, data, **fields):
    return client.post(
        reverse("courseware:author_image_upload", args=[lesson.slug]),
        {"image": SimpleUploadedFile(filename, data), **fields},
        follow=True,
    )


def test_an_uploaded_image_shows_in_the_published_lesson(
    lesson, instructor, instructor_client, student_client
):
    page = upload(instructor_client, lesson, "Diagram.PNG", PNG).content.decode()
    assert "Saved diagram.png" in page
    image = LessonImage.objects.get(lesson=lesson, name="diagram.png")
    assert bytes(image.data) == PNG and image.uploaded_by == instructor

    content = revisions.published_content(lesson)
    content["body"] += "\n![A diagram of the hypervisor](images/diagram.png)\n"
    revision, _ = revisions.save_revision(lesson, content, author=instructor, based_on=None)
    revisions.publish(revision, by=instructor)
    html = student_client.get(lesson.get_absolute_url()).content.decode()
    assert '<img alt="A diagram of the hypervisor" src="images/diagram.png">' in html

    served = student_client.get(f"/lessons/{SLUG}/images/diagram.png")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served.content == PNG
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in served["Content-Security-Policy"]
    again = student_client.get(
        f"/lessons/{SLUG}/images/diagram.png", HTTP_IF_NONE_MATCH=served["ETag"]
    )
    assert again.status_code == 304
    # The editor's preview resolves the same relative link under /author/.
    assert instructor_client.get(f"/author/{SLUG}/images/diagram.png").status_code == 200


def test_images_of_a_hidden_lesson_are_not_served_to_students(
    lesson, instructor_client, student_client
):
    upload(instructor_client, lesson, "a.png", PNG)
    instructor_client.post(reverse("courseware:author_visibility", args=[SLUG]), {"show": "0"})
    assert student_client.get(f"/lessons/{SLUG}/images/a.png").status_code == 404
    assert instructor_client.get(f"/lessons/{SLUG}/images/a.png").status_code == 200


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        (
            "x.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "script",
        ),
        ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "onload"),
        (
            "x.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/a.png"/></svg>',
            "href",
        ),
        ("x.svg", b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>', "DOCTYPE"),
        ("x.svg", b"<svg><unclosed></svg>", "well-formed"),
        ("x.svg", b"<html></html>", "not an SVG"),
        ("x.png", b"GIF89a", "not a PNG"),
        ("x.jpg", PNG, "not a JPEG"),
        ("x.gif", b"GIF89a", "an image name"),
        ("../x.png", PNG, "an image name"),
        ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 2**20), "larger than"),
    ],
)
def test_unsafe_or_broken_images_are_refused(lesson, instructor_client, name, data, reason):
    assert reason in image_problem(name, data)
    page = upload(instructor_client, lesson, "upload.bin", data, name=name).content.decode()
    assert "Nothing was saved" in page or "not saved" in page
    assert not LessonImage.objects.exists()


def test_a_clean_svg_is_accepted_and_a_name_is_not_overwritten_by_accident(
    lesson, instructor_client
):
    assert image_problem("plan.svg", CLEAN_SVG) is None
    upload(instructor_client, lesson, "plan.svg", CLEAN_SVG)
    other = CLEAN_SVG.replace(b"#1f5fbf", b"#b3261e")
    page = upload(instructor_client, lesson, "plan.svg", other).content.decode()
    assert "already has an image named plan.svg" in page
    assert bytes(LessonImage.objects.get(name="plan.svg").data) == CLEAN_SVG
    upload(instructor_client, lesson, "plan.svg", other, replace="1")
    assert bytes(LessonImage.objects.get(name="plan.svg").data) == other
    instructor_client.post(reverse("courseware:author_image_delete", args=[SLUG, "plan.svg"]))
    assert not LessonImage.objects.exists()


def test_images_travel_with_the_course_files(lesson, instructor_client, tmp_path, content_copy):
    upload(instructor_client, lesson, "plan.svg", CLEAN_SVG)
    exported = tmp_path / "export"
    course_export(root=exported)
    written = exported / lesson.source_dir / "images" / "plan.svg"
    assert written.read_bytes() == CLEAN_SVG

    LessonImage.objects.all().delete()
    report = course_import(root=exported)
    assert f"images of {SLUG}" in report.updated
    assert bytes(LessonImage.objects.get(lesson=lesson, name="plan.svg").data) == CLEAN_SVG

    bad = content_copy / lesson.source_dir / "images"
    bad.mkdir()
    (bad / "evil.svg").write_bytes(b'<svg onload="alert(1)"/>')
    with pytest.raises(ContentError) as refused:
        course_import(root=content_copy)
    assert any("images/evil.svg" in problem for problem in refused.value.problems)


def test_the_renderer_keeps_only_the_lessons_own_images():
    html = render_markdown(
        "![a](images/ok.png) ![b](images/../x.png) ![c](https://evil.example/x.png) "
        "![d](/etc/passwd) ![e](images/sub/x.png)"
    ).html
    assert 'src="images/ok.png"' in html
    assert html.count("<img") == 1
