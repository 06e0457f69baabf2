"""Accessibility as a test: axe-core on every page each kind of visitor reaches.

Each page is opened in chromium at a laptop width and on a phone, screenshotted into
the test output (``var/test-artifacts/a11y/``) and checked with axe-core, which
`scripts/test-assets` installs from the npm registry (it is never served to
visitors). Any violation axe rates serious or critical fails the test, and the
failure lists every one of them by page, rule and element.

The lab run pages show real measurements: ``lab_runs.json`` holds one run of every
lab captured on a virtlab server with `manage.py run_lab <slug> --json`, so the
charts and tables are drawn from the same shapes the worker writes. A new lab (or a
lab whose results change shape) adds its run there: the "params", "host", "summary"
and "samples" of that command's output, under the lab's slug. Labs without one still
have their lab page checked, not a run page.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from courseware.models import (
    Classroom,
    CourseUpload,
    EditorDraft,
    Exercise,
    Lesson,
    LessonImage,
    Question,
    StepCompletion,
)
from labs.experiments import REGISTRY
from terminals.models import TerminalSession
from terminals.services import start_session
from tests.browser.captured_runs import store_captured_runs
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("VIRTLAB_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts")) / "a11y"

VIEWPORTS = {
    "desktop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
}
# What fails the test. axe's "moderate" and "minor" findings are reported in the
# summary file but do not fail it.
FAILING_IMPACTS = {"serious", "critical"}


@dataclass(frozen=True)
class Visit:
    name: str  # file name of the screenshot, and how the failure names the page
    url: str
    status: int = 200


def _axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run scripts/test-assets (`make test` does)")
    return AXE_JS.read_text()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- the data a class has after its first week -------------------------------------


def _answer_some_questions(client: Client, lesson: Lesson) -> None:
    """A wrong try, then the right answer, for the first choice questions of a quiz, so
    quiz feedback, "My attempts", the gradebook and the analytics have content."""
    questions = Question.objects.active().filter(quiz__lesson=lesson).order_by("order")
    url_name = "courseware:question_submit"
    answered = 0
    for question in questions:
        spec = question.spec
        if spec["type"] == "single":
            choices = spec["choices"]
            wrong = next(c["id"] for c in choices if not c.get("correct"))
            right = next(c["id"] for c in choices if c.get("correct"))
            tries = [{"choice": str(wrong)}, {"choice": str(right)}]
        elif spec["type"] == "true_false":
            tries = [{"choice": "false" if spec["answer"] else "true"}]
        else:
            continue
        url = reverse(url_name, args=[lesson.slug, question.qid])
        for form in tries:
            # The minimum gap between tries may refuse the second one; either way the
            # page shows feedback, which is what these pages need.
            client.post(url, form)
        answered += 1
        if answered == 3:
            break


@pytest.fixture
def first_week(course, student, instructor):
    """A class with a student who read, answered and ran things; what each role sees."""
    teacher = Client()
    teacher.force_login(instructor)
    teacher.post(reverse("courseware:class_new"), {"name": "Virtualization A"})
    classroom = Classroom.objects.get()

    learner = Client()
    learner.force_login(student)
    learner.post(reverse("courseware:class_join"), {"code": classroom.join_code})
    lessons = list(Lesson.objects.order_by("module__order", "order"))
    learner.post(reverse("courseware:lesson_done", args=[lessons[0].slug]))
    for lesson in lessons[:2]:
        _answer_some_questions(learner, lesson)
    run_ids = {slug: run.pk for slug, run in store_captured_runs(student).items()}
    assignment_pages = _assignment_pages(teacher, classroom, lessons)

    lesson_pages = [Visit(f"lesson-{les.slug}", les.get_absolute_url()) for les in lessons]
    quiz_pages = [
        Visit(f"quiz-{les.slug}", reverse("courseware:quiz", args=[les.slug]))
        for les in lessons
        if Question.objects.active().filter(quiz__lesson=les).exists()
    ]
    lab_pages = [Visit(f"lab-{slug}", reverse("labs:detail", args=[slug])) for slug in REGISTRY]
    # Guided exercises (with a step done, so the done mark shows), and the lesson
    # page that lists them.
    exercises = list(Exercise.objects.active().select_related("lesson"))
    StepCompletion.objects.create(user=student, step=exercises[0].steps.first())
    exercise_pages = [Visit(f"exercise-{e.slug}", e.get_absolute_url()) for e in exercises] + [
        Visit(f"lesson-{exercises[0].lesson.slug}", exercises[0].lesson.get_absolute_url())
    ]
    run_pages = [
        Visit(f"run-{slug}", reverse("labs:run", args=[slug, pk])) for slug, pk in run_ids.items()
    ]
    # Terminals: one that ended (its page) and one open (its panel, with xterm.js,
    # on the terminals page; no terminal host here, so it says it is reconnecting).
    ended = start_session(student, "vm")
    TerminalSession.objects.filter(pk=ended.pk).update(
        status="ended", end_reason="Idle for 10 minutes."
    )
    start_session(student, "container")
    terminal_pages = [
        Visit("terminals", reverse("terminals:index")),
        Visit("terminal-ended", ended.get_absolute_url()),
    ]
    _lab_servers()
    class_url = reverse("courseware:class_detail", args=[classroom.pk])
    first_lesson_done = reverse("courseware:lesson_done", args=[lessons[0].slug])
    errors = [
        Visit("error-404", "/no-such-page/", 404),
        Visit("error-404-lab", "/labs/no-such-lab/", 404),
        # A GET of a URL that only takes POST: typing /accounts/logout/ is the usual one.
        Visit("error-405-logout", reverse("logout"), 405),
    ]
    anonymous = [
        Visit("home", "/"),
        Visit("login", reverse("login")),
        Visit("signup", reverse("signup")),
        Visit("labs", reverse("labs:catalogue")),
        Visit("glossary", reverse("courseware:glossary")),
        *lesson_pages,
        *quiz_pages,
        *lab_pages,
        *errors,
    ]
    student_pages = [
        Visit("home", "/"),
        Visit("attempts", reverse("courseware:my_attempts")),
        Visit("classes", reverse("courseware:classes")),
        Visit("class-join", reverse("courseware:class_join")),
        Visit("password", reverse("password_change")),
        *lesson_pages[:2],
        Visit("glossary", reverse("courseware:glossary")),
        *quiz_pages,
        *_exam_pages(student),
        *exercise_pages,
        *terminal_pages,
        Visit("labs", reverse("labs:catalogue")),
        *lab_pages,
        *run_pages,
        Visit("error-403-teach", reverse("courseware:teach"), 403),
        Visit("error-403-lab-servers", reverse("labs:hosts"), 403),
        Visit(
            "error-403-analytics", reverse("courseware:class_analytics", args=[classroom.pk]), 403
        ),
        *errors,
        # A form's target (marking a lesson done) opened from the history.
        Visit("error-405-lesson-done", first_lesson_done, 405),
        # A class's assignments are its instructors' to manage.
        Visit("error-403-assignments", assignment_pages[0].url, 403),
        Visit("error-403-lti-class", reverse("lti:class", args=[classroom.pk]), 403),
    ]
    instructor_pages = [
        Visit("home", "/"),
        Visit("teach", reverse("courseware:teach")),
        Visit("lab-servers", reverse("labs:hosts")),
        Visit("classes", reverse("courseware:classes")),
        Visit("gradebook", class_url),
        Visit("analytics", reverse("courseware:class_analytics", args=[classroom.pk])),
        Visit("student", reverse("courseware:class_student", args=[classroom.pk, student.pk])),
        *[
            Visit(f"students-runs-{slug}", reverse("labs:instructor_runs", args=[slug]))
            for slug in REGISTRY
        ],
        *[Visit(f"student-{v.name}", v.url) for v in run_pages],
        *quiz_pages[:1],
        *_authoring_pages(instructor, lessons[1]),
        *assignment_pages,
        Visit("terminals", reverse("terminals:index")),  # none open: the buttons
        *_lti_pages(instructor, student, classroom),
    ]
    return {
        "anonymous": (None, anonymous),
        "student": (student, student_pages),
        "instructor": (instructor, instructor_pages),
    }


def _lti_pages(instructor, student, classroom: Classroom) -> list[Visit]:
    """LTI's administration pages (the instructor is given the right to register
    platforms) and a class that came from an LMS, with a score the LMS refused."""
    from django.contrib.auth.models import Permission
    from lti_tool.models import LtiContext, LtiDeployment, LtiRegistration

    from lti.models import ContextClass, GradeLink, PlatformAccount

    instructor.user_permissions.add(Permission.objects.get(codename="change_ltiregistration"))
    registration = LtiRegistration.objects.create(
        name="School Moodle",
        issuer="https://moodle.school.test",
        client_id="AbC123",
        auth_url="https://moodle.school.test/mod/lti/auth.php",
        token_url="https://moodle.school.test/mod/lti/token.php",
        keyset_url="https://moodle.school.test/mod/lti/certs.php",
    )
    deployment = LtiDeployment.objects.create(
        registration=registration, deployment_id="1", is_active=True
    )
    LtiDeployment.objects.create(registration=registration, deployment_id="7", is_active=False)
    context = LtiContext.objects.create(
        deployment=deployment, id_on_platform="42", title="Virtualization A (Moodle)"
    )
    ContextClass.objects.create(
        context=context,
        classroom=classroom,
        roster_imported_at=timezone.now(),
        roster_summary="1 learner and 1 instructor in the LMS roster.",
    )
    account = PlatformAccount.objects.create(issuer=registration.issuer, sub="7", user=student)
    for lesson, failures in zip(Lesson.objects.order_by("pk")[:2], (0, 2), strict=True):
        GradeLink.objects.create(
            account=account,
            registration=registration,
            lesson=lesson,
            classroom=classroom,
            lineitem_url=f"https://moodle.school.test/mod/lti/services.php/2/lineitems/{lesson.pk}/lineitem",
            last_score=0.5 if not failures else None,
            last_sent_at=timezone.now() if not failures else None,
            last_error="The LMS answered HTTP 503: down for maintenance" if failures else "",
            last_error_at=timezone.now() if failures else None,
            failures=failures,
        )
    return [
        Visit("lti-setup", reverse("lti:setup")),
        Visit("lti-platform-new", reverse("lti:platform_new")),
        Visit("lti-platform-edit", reverse("lti:platform_edit", args=[registration.pk])),
        Visit("lti-class", reverse("lti:class", args=[classroom.pk])),
    ]


def _lab_servers() -> None:
    """One lab server working (with this machine's facts and findings, so the lab pages
    still offer what this machine can run), one silent for an hour."""
    from datetime import timedelta

    from labs import capabilities, hosts
    from labs.models import LabHost

    caps = [cap.as_dict() for cap in capabilities.cached()[0].values()]
    LabHost.objects.create(
        host_id="lab-a", hostname="lab-node-1", capabilities=caps, facts=hosts.facts(),
        slots_total=2, slots_in_use=1, started_at=timezone.now(), last_heartbeat=timezone.now(),
    )  # fmt: skip
    LabHost.objects.create(
        host_id="lab-b", hostname="lab-node-2", last_heartbeat=timezone.now() - timedelta(hours=1)
    )


def _exam_pages(student) -> list[Visit]:
    """The exam's pages: its introduction with a finished sitting listed, a sitting
    under way with one answer saved, and the finished sitting's result."""
    from courseware.quizzes import exam
    from tests.courseware.quiz_helpers import correct_form

    def form(question):  # as the view passes POST data: every field a list
        return {
            key: value if isinstance(value, list) else [value]
            for key, value in correct_form(question).items()
        }

    finished = exam.start(student)
    for qid in finished.qids[:3]:
        question = Question.objects.get(qid=qid)
        exam.save_answer(finished, question, form(question))
    exam.finish(finished)
    open_one = exam.start(student)
    question = Question.objects.get(qid=open_one.qids[0])
    exam.save_answer(open_one, question, form(question))
    return [
        Visit("exam", reverse("courseware:exam")),
        Visit("exam-sitting", reverse("courseware:exam_sitting", args=[open_one.pk])),
        Visit("exam-result", reverse("courseware:exam_sitting", args=[finished.pk])),
    ]


def _assignment_pages(teacher: Client, classroom: Classroom, lessons: list[Lesson]) -> list[Visit]:
    """Assignments in every state the student's "Due" list shows (done, done late,
    missing, due soon), entered through the instructor's forms in their time zone."""
    from datetime import timedelta

    from courseware.models import Assignment

    teacher.post(reverse("courseware:time_zone"), {"time_zone": "Europe/Paris"})
    url = reverse("courseware:class_assignments", args=[classroom.pk])
    for value, days in ((f"lesson:{lessons[1].slug}", 3), (f"quiz:{lessons[0].slug}", 9)):
        day = timezone.localdate() + timedelta(days=days)
        teacher.post(
            url, {"work": value, "due_date": f"{day}", "due_time": "17:00", "required": "on"}
        )
    past = timezone.now() - timedelta(days=1)
    creator = classroom.instructors.get()
    for kind, lesson, lab in (
        ("lesson", lessons[0], ""),  # marked done a moment ago: done late
        ("lesson", lessons[2], ""),  # missing
        ("lab", None, next(iter(REGISTRY))),  # the captured runs finished now: done late
    ):
        Assignment.objects.create(
            classroom=classroom, kind=kind, lesson=lesson, lab=lab, due_at=past, created_by=creator
        )
    assert Assignment.objects.filter(classroom=classroom).count() == 5  # the forms took them
    first = Assignment.objects.filter(classroom=classroom).order_by("pk").first()
    return [
        Visit("assignments", url),
        Visit(
            "assignment-edit",
            reverse("courseware:class_assignment_edit", args=[classroom.pk, first.pk]),
        ),
        Visit("time-zone", reverse("courseware:time_zone")),
    ]


def _authoring_pages(instructor, lesson: Lesson) -> list[Visit]:
    """The editor's pages, with a history to show: a second revision, one with a
    broken quiz (so the problem list renders), a trashed lesson, an unsaved draft."""
    from courseware.authoring import revisions

    content = revisions.published_content(lesson)
    revisions.save_revision(
        lesson,
        {**content, "body": content["body"] + "\nAdded.\n"},
        author=instructor,
        based_on=None,
    )
    revisions.save_revision(
        lesson, {**content, "quiz": "questions: [oops"}, author=instructor, based_on=None
    )
    EditorDraft.objects.create(user=instructor, lesson=lesson, content=content, based_on=1)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 3"><rect width="4" height="3"/></svg>'
    LessonImage.objects.create(lesson=lesson, name="plan.svg", data=svg, sha256="2" * 64)
    Lesson.objects.create(  # so the trash has something in it
        module=lesson.module,
        slug="old-notes",
        title="Old notes",
        order=99,
        published=False,
        trashed_at=timezone.now(),
    )
    diff = reverse("courseware:author_diff", args=[lesson.slug])
    # The exercise editor, with an unsaved draft the parser refuses (its problems shown).
    exercise = Exercise.objects.active().select_related("lesson").first()
    exercise_url = reverse("courseware:author_exercise", args=[exercise.lesson.slug, exercise.slug])
    base = revisions.ensure_history(exercise.lesson)
    files = dict(base.content["exercises"][exercise.slug])
    files["steps.md"] = files["steps.md"].replace("check: ", "check: ../", 1)
    EditorDraft.objects.create(
        user=instructor,
        lesson=exercise.lesson,
        content={**base.content, "exercises": {**base.content["exercises"], exercise.slug: files}},
        based_on=base.number,
    )
    from courseware.authoring.coursezip import course_zip

    good = CourseUpload.objects.create(
        uploaded_by=instructor, name="course.zip", data=course_zip(), sha256="0" * 64
    )
    bad = CourseUpload.objects.create(
        uploaded_by=instructor, name="broken.zip", data=b"not a zip", sha256="1" * 64
    )
    return [
        Visit("author-exam", reverse("courseware:author_exam")),
        Visit("author-module-new", reverse("courseware:author_module_new")),
        Visit("author-module", reverse("courseware:author_module_edit", args=[lesson.module_id])),
        Visit("author-upload", reverse("courseware:author_upload")),
        Visit("author-upload-review", reverse("courseware:author_upload_review", args=[good.pk])),
        Visit(
            "author-upload-refused",
            reverse("courseware:author_upload_review", args=[bad.pk]),
            422,
        ),
        Visit("author-outline", reverse("courseware:author_outline")),
        Visit("author-new", reverse("courseware:author_new")),
        Visit("author-edit", reverse("courseware:author_edit", args=[lesson.slug])),
        Visit("author-history", reverse("courseware:author_history", args=[lesson.slug])),
        Visit("author-diff", f"{diff}?from=1&to=2"),
        Visit("author-diff-unified", f"{diff}?from=1&to=3&view=unified"),
        Visit("author-exercise", exercise_url),
        Visit("author-exercise-draft", exercise_url + "?draft=restore"),
        Visit(
            "author-exercise-new",
            reverse("courseware:author_exercise_new", args=[exercise.lesson.slug]),
        ),
        Visit("author-quiz-unreadable", reverse("courseware:author_quiz", args=[lesson.slug])),
        Visit("author-quiz-forms", reverse("courseware:author_quiz", args=["vm-features"])),
        Visit(
            "author-quiz-answers",
            reverse("courseware:author_quiz", args=["vm-features"]) + "?answers=1",
        ),
    ]


# --- the check ----------------------------------------------------------------------


def _log_in(page, user) -> None:
    page.goto(reverse("login"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def _settle(page) -> None:
    """Wait until what the visitor finally sees is drawn. ``goto`` returns after the
    load event (styles, scripts and images are in); what changes the page after that is
    an htmx request still in flight or a plotly chart drawing itself. (Waiting for
    "networkidle" instead cost half a second of silence on every page.)"""
    page.wait_for_load_state("load")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    charts = page.locator(".js-plotly-plot, [data-chart]")
    if charts.count():
        page.locator(".main-svg").first.wait_for(timeout=15_000)


def _axe_violations(page, axe_source: str) -> list[dict]:
    # Evaluated through the devtools protocol, so the site's CSP (no inline scripts)
    # stays in force for the page itself.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    return page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({
                    impact: n.impact, target: n.target.join(' '),
                    summary: (n.failureSummary || '').split('\\n').slice(1, 3).join(' ').trim(),
                    html: n.html.slice(0, 160),
                })),
            }));
        }"""
    )


def _describe(found: list[tuple[str, dict]]) -> str:
    lines = []
    for where, violation in found:
        lines.append(f"{where}: [{violation['impact']}] {violation['id']} — {violation['help']}")
        for node in violation["nodes"][:6]:
            lines.append(f"    {node['target']}  {node['summary']}")
        if len(violation["nodes"]) > 6:
            lines.append(f"    … and {len(violation['nodes']) - 6} more elements")
    return "\n".join(lines)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("role", ["anonymous", "student", "instructor"])
def test_every_page_has_no_serious_accessibility_violation(
    browser, live_server, first_week, role, viewport
):
    axe_source = _axe_source()
    user, visits = first_week[role]
    out = ARTIFACTS / viewport / role
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS[viewport])
    page = context.new_page()
    failing: list[tuple[str, dict]] = []
    report: dict[str, list[dict]] = {}
    wrong_status: list[str] = []
    try:
        if user is not None:
            _log_in(page, user)
        for visit in visits:
            response = page.goto(visit.url)
            if response.status != visit.status:
                wrong_status.append(f"{visit.url}: HTTP {response.status}, not {visit.status}")
            _settle(page)
            page.screenshot(path=out / f"{_slug(visit.name)}.png", full_page=True)
            violations = _axe_violations(page, axe_source)
            report[visit.url] = violations
            where = f"{role} {viewport} {visit.url}"
            failing += [(where, v) for v in violations if v["impact"] in FAILING_IMPACTS]
    finally:
        (out / "axe.json").write_text(json.dumps(report, indent=1))
        context.close()
    nodes = sum(len(v["nodes"]) for _, v in failing)
    assert not failing, (
        f"{nodes} serious or critical accessibility problems (axe-core; all findings in "
        f"{out / 'axe.json'}):\n{_describe(failing)}"
    )
    assert not wrong_status, "\n".join(wrong_status)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_lti_launch_pages_have_no_serious_accessibility_violation(
    browser, live_server, course, viewport, monkeypatch
):
    """The pages an LMS launch shows: the teacher's content picker (and its refusal of
    an empty choice), a link to something missing, and the check that the LMS's frame
    keeps cookies (shown over HTTPS), in a browser that blocks them, as Safari does."""
    import lti.views
    from tests.browser.lti_platform import login_url, registered_platform
    from tests.lti.platform import INSTRUCTOR

    axe_source = _axe_source()
    out = ARTIFACTS / viewport / "lti"
    out.mkdir(parents=True, exist_ok=True)
    lms = registered_platform(live_server)
    failing: list[tuple[str, dict]] = []
    wrong_status: list[str] = []

    def check(page, name: str, status: int, response) -> None:
        if response is not None and response.status != status:
            wrong_status.append(f"{name}: HTTP {response.status}, not {status}")
        _settle(page)
        page.screenshot(path=out / f"{name}.png", full_page=True)
        where = f"lti {viewport} {name}"
        violations = _axe_violations(page, axe_source)
        failing.extend((where, v) for v in violations if v["impact"] in FAILING_IMPACTS)

    def new_page(**options):
        context = browser.new_context(viewport=VIEWPORTS[viewport], **options)
        contexts.append(context)
        return context.new_page()

    contexts = []
    try:
        teacher = new_page()
        lms.next_claims = {
            "sub": "teacher-1", "roles": [INSTRUCTOR], "message_type": "LtiDeepLinkingRequest",
        }  # fmt: skip
        with teacher.expect_response(lambda r: r.url.endswith("/lti/launch/")) as launched:
            teacher.goto(login_url(live_server, lms))
        teacher.get_by_role("heading", name="Choose what to add to your course").wait_for()
        check(teacher, "picker", 200, launched.value)
        with teacher.expect_response(lambda r: r.url.endswith("/lti/deep-link/")) as refused:
            teacher.get_by_role("button", name="Add to the course").click()
        teacher.get_by_text("Choose a lesson, quiz or lab.").wait_for()
        check(teacher, "picker-nothing-chosen", 400, refused.value)

        student = new_page()
        lms.next_claims = {"target": "lesson/no-such-lesson"}
        with student.expect_response(lambda r: r.url.endswith("/lti/launch/")) as missing:
            student.goto(login_url(live_server, lms))
        student.get_by_role("heading", name="This LMS link could not open virtlab").wait_for()
        check(student, "link-to-nothing", 404, missing.value)

        monkeypatch.setattr(lti.views, "_check_cookies", lambda request: True)
        blocking = new_page()
        # No cookie ever sticks in this page, as in a frame where the browser blocks them.
        blocking.add_init_script(
            "Object.defineProperty(document, 'cookie', {get: () => '', set: () => {}});"
        )
        response = blocking.goto(login_url(live_server, lms))
        blocking.get_by_text("Your browser does not let virtlab keep you signed in").wait_for()
        check(blocking, "cookie-check-blocked", 200, response)
    finally:
        for context in contexts:
            context.close()
        lms.close()
    nodes = sum(len(v["nodes"]) for _, v in failing)
    assert not failing, f"{nodes} serious or critical accessibility problems:\n{_describe(failing)}"
    assert not wrong_status, "\n".join(wrong_status)
