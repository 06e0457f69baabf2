"""The quiz editor as forms (/author/<slug>/quiz/): every question type round-trips
through the forms, the add/remove/move buttons save nothing, saving writes a revision
whose quiz file holds what was entered, problems keep a quiz a draft, a stale form is
caught, and the preview shows the answers only when asked."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import yaml
from django.urls import reverse

from courseware.authoring import quiz_forms, revisions
from courseware.coursefiles.quiz_files import parse_quiz
from courseware.models import EditorDraft, Lesson
from courseware.quizzes.predictions import measure_choices

SLUG = "hypervisor-types"


def _prediction() -> dict:
    slug, _title, keys = measure_choices()[0]
    return {"lab": slug, "key": keys[0][0]}


# One question of every type, with every field the forms have.
QUESTIONS = [
    {
        "id": "qe-single",
        "type": "single",
        "prompt": "Which **one**?\n\nSecond paragraph.",
        "choices": [
            {"id": "a", "text": "Right", "correct": True, "feedback": "Yes."},
            {"id": "b", "text": "Wrong", "feedback": "No."},
            {"id": "c", "text": "Also wrong"},
        ],
        "hints": ["Think first.", "Then think again."],
        "explanation": "Because.",
    },
    {
        "id": "qe-multiple",
        "type": "multiple",
        "prompt": "Which ones?",
        "choices": [
            {"id": "x", "text": "One", "correct": True},
            {"id": "y", "text": "Two", "correct": True},
            {"id": "z", "text": "Three"},
        ],
    },
    {"id": "qe-tf", "type": "true_false", "prompt": "KVM is a kernel module.", "answer": True},
    {
        "id": "qe-number",
        "type": "numeric",
        "prompt": "How many?",
        "answer": 2.5,
        "tolerance": 0.1,
        "tolerance_mode": "relative",
        "units": "GiB",
    },
    {
        "id": "qe-explicit",
        "type": "numeric",
        "prompt": "Written with its defaults.",
        "answer": 3,
        "tolerance_mode": "absolute",
    },
    {
        "id": "qe-text",
        "type": "text",
        "prompt": "Name it.",
        "answers": ["KVM", "kvm"],
        "match": "nocase",
    },
    {"id": "qe-order", "type": "ordering", "prompt": "Order them.", "items": ["1st", "2nd", "3rd"]},
    {
        "id": "qe-match",
        "type": "matching",
        "prompt": "Match them.",
        "pairs": [{"left": "ESXi", "right": "type 1"}, {"left": "VirtualBox", "right": "type 2"}],
    },
    {
        "id": "qe-blanks",
        "type": "blanks",
        "prompt": "Fill in.",
        "match": "nocase",
        "blanks": [
            {"label": "Bare metal is type", "answers": ["1", "one"]},
            {"label": "Hosted is type", "answers": ["2"]},
        ],
    },
]


def _predict_question() -> dict:
    return {
        "id": "qe-predict",
        "type": "numeric",
        "prompt": "Predict it.",
        "measure": _prediction(),
        "tolerance": 0.5,
        "tolerance_mode": "relative",
    }


def quiz_yaml(questions: list[dict], settings: dict | None = None) -> str:
    data: dict = {"settings": settings} if settings else {}
    data["questions"] = questions
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


class _Fields(HTMLParser):
    """The fields of one form as a browser would submit them (no button pressed)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside = form_id, False
        self.fields: list[tuple[str, str]] = []
        self.textarea: str | None = None
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or "name" not in a and tag != "option":
            return
        if tag == "input" and a.get("type") in ("radio", "checkbox"):
            if "checked" in a:
                self.fields.append((a["name"], a.get("value", "on")))
        elif tag == "input":
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "textarea":
            self.textarea, self.text = a["name"], ""
        elif tag == "select":
            self.select, self.options = a["name"], []
        elif tag == "option" and self.select:
            self.options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data):
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        if tag == "textarea" and self.textarea is not None:
            text = self.text[1:] if self.text.startswith("\n") else self.text
            self.fields.append((self.textarea, text))
            self.textarea = None
        if tag == "select" and self.select is not None:
            picked = [value for value, selected in self.options if selected]
            self.fields.append((self.select, (picked or [v for v, _ in self.options] or [""])[0]))
            self.select = None


def page_fields(response) -> dict[str, list[str]]:
    import html

    parser = _Fields("quiz-form")
    parser.feed(response.content.decode())
    fields: dict[str, list[str]] = {}
    for name, value in parser.fields:
        fields.setdefault(name, []).append(html.unescape(value))
    return fields


@pytest.fixture
def lesson(course) -> Lesson:
    return Lesson.objects.get(slug=SLUG)


def url(lesson: Lesson) -> str:
    return reverse("courseware:author_quiz", args=[lesson.slug])


def set_quiz(lesson: Lesson, text: str, instructor) -> int:
    head = revisions.ensure_history(lesson)
    revision, _ = revisions.save_revision(
        lesson, {**head.content, "quiz": text}, author=instructor, based_on=head.number
    )
    return revision.number


def post(client, lesson, fields: dict, action: str):
    return client.post(url(lesson), {**fields, "action": action})


# --- Round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("question", [*QUESTIONS, "predict"], ids=lambda q: str(q)[:24])
def test_each_type_round_trips_form_yaml_parse_form(question):
    question = _predict_question() if question == "predict" else question
    written = quiz_yaml([question], {"max_attempts": 3, "show_answers": "after_each"})
    form = quiz_forms.form_from_yaml(written)
    text = quiz_forms.quiz_text(form)
    parsed = parse_quiz(text, "quiz.yaml")  # raises on any problem
    assert parsed.questions == [question]
    assert parsed.settings == {"max_attempts": 3, "show_answers": "after_each"}
    assert quiz_forms.form_from_yaml(text) == form


def test_every_shipped_quiz_reads_into_the_forms_unchanged(settings):
    quizzes = sorted(settings.VIRTLAB_CONTENT_DIR.glob("*/quiz.yaml"))
    assert quizzes
    for path in quizzes:
        written = path.read_text()
        assert quiz_forms.changed_by_forms(written) == [], path
        rebuilt = quiz_forms.quiz_text(quiz_forms.form_from_yaml(written))
        assert yaml.safe_load(rebuilt) == yaml.safe_load(written), path


def test_the_page_round_trips_every_type_through_its_fields(lesson, instructor, instructor_client):
    questions = [*QUESTIONS, _predict_question()]
    set_quiz(lesson, quiz_yaml(questions, {"max_attempts": 2}), instructor)
    page = instructor_client.get(url(lesson))
    assert page.status_code == 200
    fields = page_fields(page)
    # What the browser sends back, unchanged, rebuilds exactly the same quiz.
    from django.http import QueryDict

    posted = QueryDict(mutable=True)
    for name, values in fields.items():
        posted.setlist(name, values)
    form = quiz_forms.form_from_post(posted)
    assert quiz_forms.quiz_data(form) == {"settings": {"max_attempts": 2}, "questions": questions}


def test_saving_unchanged_forms_keeps_the_file_as_written(lesson, instructor_client):
    before = revisions.ensure_history(lesson)
    fields = page_fields(instructor_client.get(url(lesson)))
    post(instructor_client, lesson, fields, "save")
    assert revisions.newest(lesson).number == before.number  # nothing new, comments kept


# --- Saving ---------------------------------------------------------------------------


def test_save_creates_a_revision_whose_quiz_holds_what_was_entered(lesson, instructor_client):
    fields = page_fields(instructor_client.get(url(lesson)))
    fields["q-0-prompt"] = ["What defines a type 1 hypervisor, really?"]
    fields["q-0-choice-1-feedback"] = ["Not at all."]
    fields["max_attempts"] = ["5"]
    fields["note"] = ["Sharper first question"]
    response = post(instructor_client, lesson, fields, "save")
    assert response.status_code == 302
    head = revisions.newest(lesson)
    assert head.number == 2 and head.problems == [] and head.note == "Sharper first question"
    assert head.author.username == "teacher"
    spec = parse_quiz(head.content["quiz"], "quiz.yaml")
    assert spec.questions[0]["prompt"] == "What defines a type 1 hypervisor, really?"
    assert spec.questions[0]["choices"][1]["feedback"] == "Not at all."
    assert spec.settings["max_attempts"] == 5
    # The rest of the lesson is the revision the forms were opened on.
    first = lesson.revisions.get(number=1).content
    assert {k: v for k, v in head.content.items() if k != "quiz"} == {
        k: v for k, v in first.items() if k != "quiz"
    }
    lesson.refresh_from_db()
    assert lesson.published_revision.number == 1  # a draft


def test_save_and_publish_shows_the_new_question_to_students(
    lesson, instructor_client, student_client
):
    fields = page_fields(instructor_client.get(url(lesson)))
    count = int(fields["questions"][0])
    added = post(instructor_client, lesson, {**fields, "new_type": "true_false"}, "add-question")
    fields = page_fields(added)
    assert int(fields["questions"][0]) == count + 1
    fields[f"q-{count}-prompt"] = ["The forms wrote this question."]
    fields[f"q-{count}-answer"] = ["true"]
    response = post(instructor_client, lesson, fields, "publish")
    assert response.status_code == 302
    lesson.refresh_from_db()
    assert lesson.published_revision.number == 2
    quiz_page = student_client.get(reverse("courseware:quiz", args=[lesson.slug]))
    assert "The forms wrote this question." in quiz_page.content.decode()


# --- Buttons that save nothing --------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "check"),
    [
        ("add-question", lambda f, n: int(f["questions"][0]) == n + 1),
        ("remove-question:0", lambda f, n: int(f["questions"][0]) == n - 1),
        ("move-down:0", lambda f, n: f["q-1-id"] == ["hv-type1-host"]),
        ("move-up:1", lambda f, n: f["q-0-id"] == ["hv-select-type2"]),
        ("add-choice:0", lambda f, n: f["q-0-choices"] == ["5"] and f["q-0-choice-4-id"] == ["e"]),
        ("remove-choice:0:0", lambda f, n: f["q-0-choices"] == ["3"]),
        (
            "choice-down:0:0",
            lambda f, n: f["q-0-choice-1-id"] == ["a"] and f["q-0-correct"] == ["1"],
        ),
    ],
)
def test_structural_buttons_change_the_forms_and_save_nothing(
    lesson, instructor_client, action, check
):
    revisions.ensure_history(lesson)
    fields = page_fields(instructor_client.get(url(lesson)))
    count = int(fields["questions"][0])
    assert fields["q-0-id"] == ["hv-type1-host"] and fields["q-1-id"] == ["hv-select-type2"]
    response = post(instructor_client, lesson, {**fields, "new_type": "single"}, action)
    assert response.status_code == 200
    assert check(page_fields(response), count)
    assert lesson.revisions.count() == 1
    assert not EditorDraft.objects.exists()


def test_every_type_can_be_added_from_the_forms(lesson, instructor_client):
    fields = page_fields(instructor_client.get(url(lesson)))
    count = int(fields["questions"][0])
    for number, (qtype, _label) in enumerate(quiz_forms.type_choices()):
        response = post(instructor_client, lesson, {**fields, "new_type": qtype}, "add-question")
        fields = page_fields(response)
        assert fields[f"q-{count + number}-type"] == [qtype]
    assert lesson.revisions.count() == 1
    # The new ones are empty, so each has its problems shown at its card.
    body = response.content.decode()
    assert body.count('class="question-problems"') == len(quiz_forms.type_choices())


# --- Problems -------------------------------------------------------------------------


def test_a_numeric_question_without_answer_is_a_problem_and_only_a_draft(
    lesson, instructor, instructor_client
):
    question = {"id": "qe-number", "type": "numeric", "prompt": "How many?", "answer": 4}
    set_quiz(lesson, quiz_yaml([question]), instructor)
    fields = page_fields(instructor_client.get(url(lesson)))
    fields["q-0-answer"] = [""]
    checked = post(instructor_client, lesson, fields, "check").content.decode()
    assert "Question 1: &#x27;answer&#x27; must be a number" in checked
    assert 'id="f-0-problems"' in checked
    response = post(instructor_client, lesson, fields, "publish")
    assert response.status_code == 302
    head = revisions.newest(lesson)
    assert head.number == 3 and any("'answer' must be a number" in p for p in head.problems)
    assert "answer" not in yaml.safe_load(head.content["quiz"])["questions"][0]
    lesson.refresh_from_db()
    assert lesson.published_revision.number == 1
    shown = instructor_client.get(url(lesson)).content.decode()
    assert "cannot be published" in shown


def test_a_single_choice_without_a_correct_one_is_shown_at_its_question(lesson, instructor_client):
    fields = page_fields(instructor_client.get(url(lesson)))
    del fields["q-2-correct"]
    response = post(instructor_client, lesson, fields, "check")
    body = response.content.decode()
    assert "Question 3: exactly one choice must be correct (found 0)" in body
    assert 'id="f-2-problems"' in body and 'id="f-0-problems"' not in body
    assert "Question 3 is shown here once its problems are fixed." in body
    post(instructor_client, lesson, fields, "save")
    head = revisions.newest(lesson)
    assert head.number == 2 and head.problems


def test_a_number_that_is_not_a_number_is_reported_not_dropped(
    lesson, instructor, instructor_client
):
    set_quiz(lesson, quiz_yaml([QUESTIONS[3]]), instructor)
    fields = page_fields(instructor_client.get(url(lesson)))
    fields["q-0-tolerance"] = ["a little"]
    fields["max_attempts"] = ["three"]
    body = post(instructor_client, lesson, fields, "check").content.decode()
    assert "&#x27;tolerance&#x27; must be a number ≥ 0" in body
    assert "Quiz: " in body and "&#x27;max_attempts&#x27; must be a whole number" in body
    assert page_fields(post(instructor_client, lesson, fields, "check"))["q-0-tolerance"] == [
        "a little"
    ]


# --- Conflicts ------------------------------------------------------------------------


def test_a_stale_form_is_caught_and_nothing_is_overwritten(lesson, instructor, instructor_client):
    fields = page_fields(instructor_client.get(url(lesson)))
    assert fields["based_on"] == ["1"]
    head = revisions.ensure_history(lesson)
    revisions.save_revision(  # a co-teacher saves meanwhile
        lesson,
        {**head.content, "body": head.content["body"] + "\nTheirs.\n"},
        author=None,
        based_on=1,
    )
    fields["q-0-prompt"] = ["Mine, from the forms."]
    warned = post(instructor_client, lesson, fields, "add-choice:0").content.decode()
    assert "Revision 2 was saved after you opened these forms (on revision 1)" in warned
    assert page_fields(post(instructor_client, lesson, fields, "check"))["based_on"] == ["1"]
    response = post(instructor_client, lesson, fields, "save")
    assert response.status_code == 409
    body = response.content.decode()
    assert "Someone else saved this lesson" in body and "Mine, from the forms." in body
    assert revisions.newest(lesson).number == 2
    assert "Theirs." in revisions.newest(lesson).content["body"]
    draft = EditorDraft.objects.get(user=instructor, lesson=lesson)
    assert "Mine, from the forms." in draft.content["quiz"]
    assert "Theirs." in draft.content["body"]  # only the quiz is this author's


# --- Preview --------------------------------------------------------------------------


def test_the_preview_shows_answers_only_when_asked(lesson, instructor, instructor_client):
    set_quiz(lesson, quiz_yaml(QUESTIONS), instructor)
    hidden = instructor_client.get(url(lesson)).content.decode()
    preview = hidden.split('id="quiz-preview-title"')[1]
    assert "Which <strong>one</strong>?" in preview
    assert 'name="choice" value="a"' in preview and "disabled" in preview
    assert "(correct answer)" not in preview and "Explanation" not in preview
    shown = instructor_client.get(url(lesson) + "?answers=1").content.decode()
    preview = shown.split('id="quiz-preview-title"')[1]
    assert "(correct answer)" in preview and "Because." in preview
    assert "Accepted: <strong>1</strong>, <strong>one</strong>" in preview
    fields = page_fields(instructor_client.get(url(lesson)))
    toggled = post(instructor_client, lesson, fields, "answers-on").content.decode()
    assert "(correct answer)" in toggled.split('id="quiz-preview-title"')[1]


def test_a_quiz_text_that_is_not_a_quiz_points_to_the_raw_editor(
    lesson, instructor, instructor_client
):
    set_quiz(lesson, "questions: [oops", instructor)
    body = instructor_client.get(url(lesson)).content.decode()
    assert "cannot be shown as forms" in body and 'id="quiz-form"' not in body
    edit = instructor_client.get(reverse("courseware:author_edit", args=[lesson.slug]))
    assert url(lesson) in edit.content.decode()  # the lesson editor links the forms
