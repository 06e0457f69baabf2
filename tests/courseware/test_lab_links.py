"""The lab ↔ lesson link has one source (each lesson's front matter ``labs:``), and
what a lesson or a prediction says about labs is checked at import."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from courseware.coursefiles.lesson_files import ContentError, read_course
from courseware.models import Lesson
from labs.experiments import REGISTRY


def test_every_lab_goes_with_at_least_one_shipped_lesson(settings):
    content = read_course(Path(settings.VIRTLAB_CONTENT_DIR))
    linked = {slug for lesson in content.lessons for slug in lesson.labs}
    assert set(REGISTRY) <= linked


def test_a_lesson_naming_an_unknown_lab_is_refused(content_copy):
    index = content_copy / "01-what-is-virtualization" / "index.md"
    index.write_text(
        index.read_text().replace("  - boot-race\n", "  - boot-race\n  - no-such-lab\n", 1)
    )
    with pytest.raises(ContentError) as caught:
        read_course(content_copy)
    assert caught.value.problems == [
        "01-what-is-virtualization/index.md: 'labs' names 'no-such-lab', which is not a lab "
        "(the labs are in labs/experiments/__init__.py)"
    ]


def test_a_prediction_of_a_key_the_lab_does_not_report_is_refused(content_copy):
    quiz = content_copy / "01-what-is-virtualization" / "quiz.yaml"
    text = quiz.read_text()
    assert "key: vm_over_container_median}" in text
    quiz.write_text(text.replace("key: vm_over_container_median}", "key: renamed_ratio}"))
    with pytest.raises(ContentError) as caught:
        read_course(content_copy)
    [problem] = caught.value.problems
    assert re.match(
        r"01-what-is-virtualization/quiz\.yaml: question '[a-z0-9-]+': 'measure' key "
        r"'renamed_ratio' is not a summary key of lab 'boot-race' \(it reports: .*\)$",
        problem,
    )


def test_a_prediction_of_an_unknown_lab_is_refused(content_copy):
    quiz = content_copy / "01-what-is-virtualization" / "quiz.yaml"
    quiz.write_text(quiz.read_text().replace("{lab: boot-race,", "{lab: no-such-lab,"))
    with pytest.raises(ContentError) as caught:
        read_course(content_copy)
    assert caught.value.problems[0].endswith(
        "'measure' names lab 'no-such-lab', which is not a lab"
    )


def test_the_lab_page_lists_the_lessons_whose_front_matter_links_to_it(client, course):
    page = client.get(reverse("labs:detail", args=["vm-features"])).content.decode()
    goes_with = re.search(r"<p>Goes with: (.*?)</p>", page).group(1)
    linked = [lesson for lesson in Lesson.objects.published() if "vm-features" in lesson.labs]
    assert len(linked) >= 2
    assert re.findall(r'href="([^"]+)"', goes_with) == [
        lesson.get_absolute_url() for lesson in linked
    ]
