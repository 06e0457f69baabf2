"""Classes: create, join with a code, and who may see what."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from courseware.classes.services import class_create
from courseware.models import Classroom, Membership
from tests.conftest import PASSWORD
from virtlab.roles import instructors_group

from .quiz_helpers import record


@pytest.fixture
def other_instructor(db):
    user = get_user_model().objects.create_user("other-teacher", password=PASSWORD)
    user.groups.add(instructors_group())
    return user


@pytest.fixture
def classroom(instructor):
    return class_create(instructor=instructor, name="Virtualization A")


def test_instructor_creates_a_class_and_gets_a_join_code(instructor_client, instructor):
    response = instructor_client.post(
        reverse("courseware:class_new"), {"name": "  Spring   group B "}
    )
    classroom = Classroom.objects.get()
    assert response.status_code == 302 and response.url == classroom.get_absolute_url()
    assert classroom.name == "Spring group B"
    assert len(classroom.join_code) == 8 and classroom.join_code.isalnum()
    assert list(classroom.instructors.all()) == [instructor]
    page = instructor_client.get(reverse("courseware:classes")).content.decode()
    assert classroom.display_code in page and "Spring group B" in page


def test_blank_class_name_is_refused(instructor_client):
    response = instructor_client.post(reverse("courseware:class_new"), {"name": "   "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Classroom.objects.exists()


def test_students_cannot_create_classes(student_client):
    response = student_client.post(reverse("courseware:class_new"), {"name": "Mine"})
    assert response.status_code == 403
    assert not Classroom.objects.exists()


def test_student_joins_with_the_code_in_any_spelling_and_can_be_in_several(
    student_client, student, classroom, other_instructor
):
    second = class_create(instructor=other_instructor, name="Containers B")
    code = classroom.display_code.lower().replace("-", " - ")
    response = student_client.post(reverse("courseware:class_join"), {"code": code})
    assert response.status_code == 302
    student_client.post(reverse("courseware:class_join"), {"code": second.join_code})
    assert set(Classroom.objects.joined_by(student)) == {classroom, second}
    # Joining twice changes nothing and says so.
    response = student_client.post(
        reverse("courseware:class_join"), {"code": classroom.join_code}, follow=True
    )
    assert "You are already in “Virtualization A”." in response.content.decode()
    assert Membership.objects.filter(user=student).count() == 2
    page = student_client.get(reverse("courseware:classes")).content.decode()
    assert "Virtualization A" in page and "Containers B" in page and "Create a class" not in page


def test_wrong_code_says_so_and_joins_nothing(student_client, student, classroom):
    response = student_client.post(reverse("courseware:class_join"), {"code": "NOPE-NOPE"})
    assert response.status_code == 400
    assert "No class has that join code." in response.content.decode()
    assert not Membership.objects.exists()
    assert student_client.get(reverse("courseware:class_join")).status_code == 200


def test_instructors_see_only_their_own_classes(instructor_client, classroom, other_instructor):
    theirs = class_create(instructor=other_instructor, name="Someone else's class")
    page = instructor_client.get(reverse("courseware:classes")).content.decode()
    assert "Virtualization A" in page and "Someone else" not in page
    for name in ("class_detail", "gradebook_csv", "class_analytics"):
        assert (
            instructor_client.get(reverse(f"courseware:{name}", args=[theirs.pk])).status_code
            == 404
        )
        assert (
            instructor_client.get(reverse(f"courseware:{name}", args=[classroom.pk])).status_code
            == 200
        )
    teach = instructor_client.get(reverse("courseware:teach")).content.decode()
    assert classroom.get_absolute_url() in teach and theirs.get_absolute_url() not in teach


def test_the_teach_overview_counts_only_this_instructors_students(
    instructor_client, classroom, other_instructor, student, course
):
    from courseware.models import Lesson, LessonProgress

    lesson = Lesson.objects.in_outline_order().first()
    theirs = class_create(instructor=other_instructor, name="Someone else's class")
    outsider = get_user_model().objects.create_user("outsider", password=PASSWORD)
    Membership.objects.create(classroom=theirs, user=outsider)
    LessonProgress.objects.create(user=outsider, lesson=lesson, state="done")

    def counts():
        page = instructor_client.get(reverse("courseware:teach")).content.decode()
        row = page.split(f'href="{lesson.get_absolute_url()}"')[1].split("</tr>")[0]
        return re.findall(r'<td class="num">(\d+)</td>', row)

    assert counts() == ["0", "0"]
    Membership.objects.create(classroom=classroom, user=student)
    Membership.objects.create(
        classroom=class_create(instructor=classroom.instructors.first(), name="B"), user=student
    )
    LessonProgress.objects.create(user=student, lesson=lesson, state="done")
    assert counts() == ["1", "1"]  # one student, counted once across two classes


def test_students_and_anonymous_cannot_open_class_reports(
    client, student_client, student, classroom
):
    Membership.objects.create(classroom=classroom, user=student)
    for name in ("class_detail", "gradebook_csv", "class_analytics"):
        url = reverse(f"courseware:{name}", args=[classroom.pk])
        assert student_client.get(url).status_code == 403
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response.url


def test_instructor_sees_attempts_only_of_their_own_students(
    instructor_client, student, course, classroom, other_instructor
):
    from courseware.models import Question

    outsider = get_user_model().objects.create_user("outsider", password=PASSWORD)
    question = Question.objects.get(qid="hv-tf-nested")
    record(student, question, {"choice": "false"})
    record(outsider, question, {"choice": "true"})
    Membership.objects.create(classroom=classroom, user=student)
    url = reverse("courseware:class_student", args=[classroom.pk, student.pk])
    body = instructor_client.get(url).content.decode()
    assert "Quiz attempts of stu" in body and "hv-tf-nested" in body
    assert (
        instructor_client.get(
            reverse("courseware:class_student", args=[classroom.pk, outsider.pk])
        ).status_code
        == 404
    )
    theirs = class_create(instructor=other_instructor, name="Theirs")
    Membership.objects.create(classroom=theirs, user=outsider)
    assert (
        instructor_client.get(
            reverse("courseware:class_student", args=[theirs.pk, outsider.pk])
        ).status_code
        == 404
    )


def test_a_student_sees_only_their_own_attempts(student_client, student, course, classroom):
    from courseware.models import Question

    Membership.objects.create(classroom=classroom, user=student)
    other = get_user_model().objects.create_user("classmate", password=PASSWORD)
    Membership.objects.create(classroom=classroom, user=other)
    record(other, Question.objects.get(qid="hv-text-device"), {"value": "x"})
    assert (
        "hv-text-device"
        not in student_client.get(reverse("courseware:my_attempts")).content.decode()
    )
    assert (
        student_client.get(
            reverse("courseware:class_student", args=[classroom.pk, other.pk])
        ).status_code
        == 403
    )


# --- questions and answers in words -------------------------------------------------


def _q(qid):
    from courseware.models import Question

    return Question.objects.get(qid=qid)


def test_questions_are_named_by_their_prompt(course):
    from courseware.classes.answers import question_title, shorten

    assert question_title(_q("hv-type1-host")) == "What defines a type 1 hypervisor?"  # no **
    long = question_title(_q("pre-trap-privileged"))
    assert long.startswith("A program running in user mode executes an instruction that")
    assert len(long) <= 80 and long.endswith("…") and not long.endswith(" …")
    assert shorten("word " * 40, 20) == "word word word word…"
    assert shorten("x" * 100, 10) == "xxxxxxxxx…"  # no space to cut at


def test_answers_are_spelt_out_as_given(course):
    from courseware.classes.answers import answer_parts
    from courseware.models import Question
    from courseware.quizzes.render import render_question

    def parts(qid, answer):
        return answer_parts(_q(qid), answer)

    assert parts("pre-trap-privileged", {"choice": "d"}) == [
        "Nothing; the instruction is silently skipped"
    ]
    assert parts("pre-select-syscalls", {"choices": ["a", "b"]}) == [
        "Reading the contents of a file",
        "Adding two numbers that are already in memory",
    ]
    assert parts("pre-tf-same-address", {"value": True}) == ["True"]
    assert parts("pre-numeric-hosts-26", {"value": 64.0, "raw": "64"}) == ["64 addresses"]
    assert parts("pre-text-broadcast", {"text": "network"}) == ["network"]
    order = _q("pre-order-dhcp").spec["items"]
    assert parts("pre-order-dhcp", {"order": order[::-1]})[0] == f"1. {order[-1]}"
    assert parts("pre-match-terms", {"pairs": {"System call": "DHCP lease"}}) == [
        "System call → DHCP lease"
    ]
    spec = {
        "id": "x-blanks",
        "type": "blanks",
        "prompt": "Fill in",
        "blanks": [{"label": "The `/dev` file", "answers": ["kvm"]}],
    }
    blanks = Question(qid="x-blanks", spec=spec, rendered=render_question(spec))
    assert answer_parts(blanks, {"blanks": {"The `/dev` file": "kvm"}}) == ["The /dev file: kvm"]


def test_attempt_lists_name_questions_by_text_and_show_the_answer(
    instructor_client, student_client, student, course, classroom
):
    Membership.objects.create(classroom=classroom, user=student)
    record(student, _q("hv-type1-host"), {"choice": "b"}, minutes_ago=5)
    record(student, _q("hv-tf-nested"), {"choice": "false"}, minutes_ago=4)
    mine = student_client.get(reverse("courseware:my_attempts")).content.decode()
    assert "What defines a type 1 hypervisor?" in mine
    assert '<code class="qid">hv-type1-host</code>' in mine
    assert "It can only run one guest at a time" in mine  # the student's own answer
    url = reverse("courseware:class_student", args=[classroom.pk, student.pk])
    page = instructor_client.get(url).content.decode()
    row = page.split('data-qid="hv-type1-host"')[1].split("</tr>")[0]
    assert '<a href="?question=hv-type1-host">What defines a type 1 hypervisor?</a>' in row
    assert '<td class="answer-given">It can only run one guest at a time</td>' in row
    assert "<td>not correct</td>" in row
    # One question: only its attempts, the prompt in full, and a way to every student's.
    page = instructor_client.get(url, {"question": "hv-tf-nested"}).content.decode()
    assert 'data-qid="hv-tf-nested"' in page and 'data-qid="hv-type1-host"' not in page
    assert reverse("courseware:class_question", args=[classroom.pk, "hv-tf-nested"]) in page
    assert instructor_client.get(url, {"question": "no-such-question"}).status_code == 404


def test_every_students_answers_to_one_question(
    instructor_client, student, course, classroom, other_instructor
):
    Membership.objects.create(classroom=classroom, user=student)
    classmate = get_user_model().objects.create_user("classmate", password=PASSWORD)
    Membership.objects.create(classroom=classroom, user=classmate)
    lurker = get_user_model().objects.create_user("lurker", password=PASSWORD)  # in no class
    Membership.objects.create(classroom=classroom, user=get_user_model().objects.create_user("zed"))
    question = _q("hv-select-type2")
    record(student, question, {"choice": ["a", "d"]}, minutes_ago=9)
    record(student, question, {"choice": ["a", "b", "c"]}, minutes_ago=8)
    record(classmate, question, {"choice": ["b"]}, minutes_ago=7)
    record(lurker, question, {"choice": ["e"]}, minutes_ago=6)
    url = reverse("courseware:class_question", args=[classroom.pk, question.qid])
    page = instructor_client.get(url).content.decode()
    assert "Which of these are type 2 (hosted) hypervisors? Select all that apply." in page
    rows = re.findall(r'<tr data-student="([^"]+)">(.*?)</tr>', page, re.S)
    assert [name for name, _ in rows] == ["classmate", "stu", "stu"]
    stu_first, stu_second = rows[1][1], rows[2][1]
    assert 'rowspan="2"' in stu_first and "VMware ESXi" in stu_first
    assert "<li>VMware Workstation on a Linux desktop</li>" in stu_second
    # a right pick and a wrong one cancel out: 0 %, then all three right
    assert "<td>not correct</td>" in stu_first and "<td>correct</td>" in stu_second
    assert "lurker" not in page  # not in the class
    assert "Not answered yet: " in page and ">zed</a>" in page
    # Only for the class's own instructor; never for students.
    other = _client_for(other_instructor)
    assert other.get(url).status_code == 404
    missing = reverse("courseware:class_question", args=[classroom.pk, "no-such-question"])
    assert instructor_client.get(missing).status_code == 404


def test_students_cannot_see_answers_pages(client, student_client, student, classroom, course):
    Membership.objects.create(classroom=classroom, user=student)
    url = reverse("courseware:class_question", args=[classroom.pk, "hv-type1-host"])
    assert student_client.get(url).status_code == 403
    response = client.get(url)
    assert response.status_code == 302 and reverse("login") in response.url


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_lesson_and_class_tables_have_no_empty_headings_and_scroll_in_their_card(
    instructor_client, classroom, course
):
    for url in (reverse("courseware:teach"), reverse("courseware:classes")):
        page = instructor_client.get(url).content.decode()
        headings = re.findall(r"<th\b[^>]*>(.*?)</th>", page, re.S)
        assert headings and all(re.sub(r"<[^>]+>", "", h).strip() for h in headings), url
        region = re.search(r'<div class="table-scroll card-scroll" role="region"[^>]*>', page)
        assert region and 'tabindex="0"' in region.group(0) and "aria-labelledby" in region.group(0)
    from courseware.models import Lesson

    teach = instructor_client.get(reverse("courseware:teach")).content.decode()
    for lesson in Lesson.objects.all():  # each lesson heads its row
        assert f'<th scope="row"><a href="{lesson.get_absolute_url()}">' in teach


def test_student_page_lists_their_lab_runs(instructor_client, student, course, classroom):
    from labs.experiments import get_lab
    from labs.models import LabRun

    Membership.objects.create(classroom=classroom, user=student)
    other = get_user_model().objects.create_user("classmate", password=PASSWORD)
    Membership.objects.create(classroom=classroom, user=other)
    done = LabRun.objects.create(user=student, lab="boot-race", status=LabRun.Status.SUCCEEDED)
    failed = LabRun.objects.create(user=student, lab="emulation", status=LabRun.Status.FAILED)
    theirs = LabRun.objects.create(user=other, lab="limits", status=LabRun.Status.SUCCEEDED)
    url = reverse("courseware:class_student", args=[classroom.pk, student.pk])
    page = instructor_client.get(url).content.decode()
    runs = re.findall(r'<tr data-run="(\d+)">(.*?)</tr>', page, re.S)
    assert [int(pk) for pk, _ in runs] == [failed.pk, done.pk]  # newest first, only theirs
    assert f'<a href="{done.get_absolute_url()}">Run {done.pk}</a>' in runs[1][1]
    assert get_lab("boot-race").title in runs[1][1] and "<td>Succeeded</td>" in runs[1][1]
    assert "<td>Failed</td>" in runs[0][1]
    assert f"Run {theirs.pk}<" not in page
    # Keeping to one question leaves the runs out.
    page = instructor_client.get(url, {"question": "hv-tf-nested"}).content.decode()
    assert "data-run=" not in page
    page = instructor_client.get(
        reverse("courseware:class_student", args=[classroom.pk, other.pk])
    ).content.decode()
    assert [pk for pk, _ in re.findall(r'<tr data-run="(\d+)">(.*?)</tr>', page, re.S)] == [
        str(theirs.pk)
    ]
