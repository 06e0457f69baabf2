import pytest
from django.test import Client
from django.urls import reverse

from labs import capabilities
from labs.models import LabRun
from labs.sandbox.capability import Capability
from tests.conftest import PASSWORD

HTMX = {"HTTP_HX_REQUEST": "true"}
SAMPLES = [
    {"series": "container", "repeat": 1, "start_seconds": 0.03, "total_seconds": 0.04,
     "peak_memory_mib": 2.0, "runtime": "runc", "guest_uptime_seconds": None},
    {"series": "vm", "repeat": 1, "start_seconds": 2.1, "total_seconds": 2.2,
     "peak_memory_mib": 210.0, "runtime": "QEMU", "guest_uptime_seconds": 1.2, "accelerator": "tcg"},
]  # fmt: skip
HOST = {"kernel": "6.1", "cpu_model": "Test CPU", "cores": 2, "accelerator": "tcg", "versions": {}}


@pytest.fixture
def all_ready(monkeypatch):
    names = {"container-runtime", "container-rootfs", "cgroups", "tcg", "guest-kernel",
             "guest-initramfs", "qemu-user", "aarch64-busybox", "netns"}  # fmt: skip
    caps = {name: Capability(name, True, "ok") for name in names}
    monkeypatch.setattr(capabilities, "cached", lambda: (caps, "2026-01-01T00:00:00"))


def make_run(user, status="succeeded", samples=SAMPLES):
    return LabRun.objects.create(
        user=user, lab="boot-race", params={"repeats": 1, "vm_memory_mib": 128}, status=status,
        host_facts=HOST, results={"samples": samples, "summary": {"vm_over_container_median": 70.0}},
    )  # fmt: skip


def test_catalogue_lists_labs_with_status(client, db, all_ready):
    body = client.get(reverse("labs:catalogue")).content.decode()
    assert "Boot race" in body and "Ready on this server" in body


def test_missing_capability_is_explained_and_run_not_offered(student_client, monkeypatch):
    caps = {"tcg": Capability("tcg", False, "qemu-system-x86_64 not found",
                              "apt-get install -y qemu-system-x86")}  # fmt: skip
    monkeypatch.setattr(capabilities, "cached", lambda: (caps, "2026-01-01T00:00:00"))
    body = student_client.get(reverse("labs:detail", args=["boot-race"])).content.decode()
    assert "cannot run this lab yet" in body
    assert "apt-get install -y qemu-system-x86" in body
    assert "Run on this server" not in body
    response = student_client.post(
        reverse("labs:start", args=["boot-race"]), {"repeats": 1, "vm_memory_mib": 128}
    )
    assert response.status_code == 302 and not LabRun.objects.exists()


def test_starting_a_run_queues_it(student_client, student, all_ready):
    url = reverse("labs:start", args=["boot-race"])
    response = student_client.post(url, {"repeats": "2", "vm_memory_mib": "128"})
    run = LabRun.objects.get()
    assert response.status_code == 302 and response.url == run.get_absolute_url()
    assert run.status == "queued" and run.user == student
    assert run.params == {"repeats": 2, "vm_memory_mib": 128}


def test_invalid_parameters_show_at_the_field_and_start_nothing(student_client, all_ready):
    url = reverse("labs:start", args=["boot-race"])
    response = student_client.post(url, {"repeats": "50", "vm_memory_mib": "128"})
    body = response.content.decode()
    assert response.status_code == 200 and "Must be between 1 and 20" in body
    assert 'id="id_repeats_error"' in body
    assert not LabRun.objects.exists()


def test_quota_refuses_with_a_message(student_client, student, all_ready, settings):
    settings.VIRTLAB_MAX_ACTIVE_RUNS_PER_USER = 1
    make_run(student, status="running")
    url = reverse("labs:start", args=["boot-race"])
    response = student_client.post(url, {"repeats": "1", "vm_memory_mib": "128"}, follow=True)
    assert "You already have 1 run(s) queued or running" in response.content.decode()
    assert LabRun.objects.count() == 1


def test_host_backlog_refuses(student_client, instructor, all_ready, settings):
    settings.VIRTLAB_MAX_QUEUED_RUNS = 1
    make_run(instructor, status="queued")
    url = reverse("labs:start", args=["boot-race"])
    response = student_client.post(url, {"repeats": "1", "vm_memory_mib": "128"}, follow=True)
    assert "already has 1 runs waiting" in response.content.decode()
    assert LabRun.objects.count() == 1


def test_run_page_full_and_fragment(student_client, student, all_ready):
    run = make_run(student)
    full = student_client.get(run.get_absolute_url())
    body = full.content.decode()
    assert full.status_code == 200 and "<html" in body
    assert 'id="figure-' in body and "vendor/plotly" in body and "Download CSV" in body
    assert "Test CPU" in body  # host facts in the caption
    fragment = student_client.get(run.get_absolute_url(), **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section id="run-panel"') and "<html" not in fragment
    assert "hx-trigger" not in fragment  # finished: polling stops


def test_active_run_polls_and_can_be_cancelled(student_client, student, all_ready):
    run = make_run(student, status="queued", samples=[])
    fragment = student_client.get(run.get_absolute_url(), **HTMX).content.decode()
    assert (
        'hx-trigger="every 200ms"' in fragment
    )  # fast until the first sample and "Cancel run" in fragment
    student_client.post(reverse("labs:cancel", args=["boot-race", run.pk]))
    run.refresh_from_db()
    assert run.status == "cancelled" and run.cancel_requested


def test_csv_download(student_client, student, all_ready):
    run = make_run(student)
    response = student_client.get(reverse("labs:csv", args=["boot-race", run.pk]))
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = response.content.decode().splitlines()
    assert len(rows) == 3 and rows[2].startswith(f"{run.pk},boot-race,vm,1,2.1,1.2")


def enrol(student, instructor):
    from courseware.classes.services import class_create, class_join

    classroom = class_create(instructor=instructor, name="Virtualization 101")
    class_join(user=student, code=classroom.join_code)
    return classroom


def test_runs_are_private_to_their_owner(student, instructor, instructor_client, all_ready, db):
    from django.contrib.auth import get_user_model

    run = make_run(student)
    other = Client()
    other.force_login(get_user_model().objects.create_user("other", password=PASSWORD))
    assert other.get(run.get_absolute_url()).status_code == 404
    assert other.get(reverse("labs:csv", args=["boot-race", run.pk])).status_code == 404
    # An instructor sees a student's runs only once the student is in one of their classes.
    assert instructor_client.get(run.get_absolute_url()).status_code == 404
    enrol(student, instructor)
    assert instructor_client.get(run.get_absolute_url()).status_code == 200


def test_anonymous_sees_no_run_not_even_a_command_line_one(client, student, all_ready):
    # A command-line run has no owner; an anonymous user's id is None too.
    for run in (make_run(None), make_run(student)):
        assert client.get(run.get_absolute_url()).status_code == 404
        assert client.get(reverse("labs:csv", args=["boot-race", run.pk])).status_code == 404


def test_anonymous_cannot_start(client, db, all_ready):
    response = client.post(reverse("labs:start", args=["boot-race"]), {"repeats": "1"})
    assert response.status_code == 302 and reverse("login") in response.url
    assert not LabRun.objects.exists()


def test_queued_run_shows_its_position(student_client, student, instructor, all_ready):
    make_run(instructor, status="queued", samples=[])
    make_run(instructor, status="running", samples=[])
    mine = make_run(student, status="queued", samples=[])
    body = student_client.get(mine.get_absolute_url(), **HTMX).content.decode()
    assert "position 2 in the queue" in body and "1 run executing now" in body


def test_class_distribution_appears_with_enough_students(student_client, student, all_ready):
    from django.contrib.auth import get_user_model

    lab_url = reverse("labs:detail", args=["boot-race"])
    make_run(student)
    assert "How your classmates" not in student_client.get(lab_url).content.decode()
    for name in ("a1", "a2"):
        make_run(get_user_model().objects.create_user(name, password=PASSWORD))
    body = student_client.get(lab_url).content.decode()
    assert "How your classmates" in body and 'id="class-distribution"' in body
    assert "a1" not in body  # classmates stay anonymous


def test_classmates_results_wait_for_the_prediction(
    client, student_client, student, all_ready, course
):
    """With a predict question open, the class chart would hand the student the answer."""
    from django.contrib.auth import get_user_model

    from courseware.models import Attempt, Question

    lab_url = reverse("labs:detail", args=["boot-race"])
    for name in ("a1", "a2", "a3"):
        make_run(get_user_model().objects.create_user(name, password=PASSWORD))
    body = student_client.get(lab_url).content.decode()
    assert "3 of your classmates have run this lab" in body
    assert 'id="class-distribution"' not in body and "plotly" not in body
    for question in Question.objects.filter(spec__measure__lab="boot-race"):
        Attempt.objects.create(
            user=student,
            question=question,
            qid=question.qid,
            content_hash=question.content_hash,
            answer={"value": 50.0},
        )
    body = student_client.get(lab_url).content.decode()
    assert 'id="class-distribution"' in body and "class-hidden" not in body
    # Logging out is no way round it.
    anonymous = client.get(lab_url).content.decode()
    assert "3 students have run this lab" in anonymous
    assert 'id="class-distribution"' not in anonymous


def test_instructor_sees_students_runs_with_names(
    instructor_client, instructor, student_client, student, all_ready
):
    from django.contrib.auth import get_user_model

    make_run(student)
    make_run(get_user_model().objects.create_user("not-mine", password=PASSWORD))
    enrol(student, instructor)
    url = reverse("labs:instructor_runs", args=["boot-race"])
    body = instructor_client.get(url).content.decode()
    assert student.username in body and 'id="distribution"' in body
    assert "not-mine" not in body
    assert student_client.get(url).status_code == 403


def test_run_page_compares_with_earlier_runs(student_client, student, all_ready):
    first = make_run(student)
    second = make_run(student)
    body = student_client.get(second.get_absolute_url()).content.decode()
    assert "Compare with your earlier runs" in body
    assert f'href="{first.get_absolute_url()}"' in body and "70.0" in body


def test_lab_page_links_to_its_predict_questions(client, course, all_ready):
    body = client.get(reverse("labs:detail", args=["boot-race"])).content.decode()
    assert "Predict first" in body
    assert 'href="/lessons/what-is-virtualization/#q-wv-predict-boot-race"' in body


def test_instructors_cannot_cancel_a_students_run(
    instructor_client, instructor, student, all_ready
):
    run = make_run(student, status="queued", samples=[])
    enrol(student, instructor)
    response = instructor_client.post(reverse("labs:cancel", args=["boot-race", run.pk]))
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == "queued" and not run.cancel_requested


def test_a_finished_run_is_never_rewritten(student, db):
    from labs.runner import _finish

    run = make_run(student, status="failed")
    assert _finish(run, "succeeded") is False
    run.refresh_from_db()
    assert run.status == "failed"


def test_yes_and_no_instead_of_python_booleans(student_client, student):
    from labs.presenters import present

    run = LabRun.objects.create(
        user=student,
        lab="isolation",
        status=LabRun.Status.SUCCEEDED,
        params={"vm_memory_mib": 128},
        results={
            "samples": [],
            "summary": {"container_shares_host_kernel": True, "vm_shares_host_kernel": False},
        },
    )
    tiles = dict(present(run).summary)
    assert tiles["Container runs on the host's kernel"] == "yes"
    assert tiles["VM runs on the host's kernel"] == "no"
    body = student_client.get(run.get_absolute_url()).content.decode()
    assert "True" not in body and "False" not in body


def test_lab_explanations_are_markdown_rendered_like_lessons(client, db):
    body = client.get(reverse("labs:detail", args=["networking"])).content.decode()
    assert "**" not in body.split("<h1>", 1)[1].split("Goes with", 1)[0]
    assert "<strong>" in body


def test_a_yes_no_parameter_is_a_checkbox(student_client, all_ready):
    from labs.experiments import get_lab
    from labs.forms import lab_form

    lab = get_lab("emulation")
    body = student_client.get(reverse("labs:detail", args=["emulation"])).content.decode()
    assert 'type="checkbox" name="include_vm"' in body and "(0 or 1)" not in body
    ticked = {**lab.defaults(), "include_vm": "on"}
    unticked = {key: value for key, value in lab.defaults().items() if key != "include_vm"}
    form = lab_form(lab, ticked)
    assert form.is_valid() and form.cleaned_data["include_vm"] == 1
    form = lab_form(lab, unticked)
    assert form.is_valid() and form.cleaned_data["include_vm"] == 0


def test_earlier_runs_show_parameters_by_their_labels(student_client, student):
    LabRun.objects.create(
        user=student, lab="emulation", status=LabRun.Status.SUCCEEDED,
        params={"iterations": 2000000, "include_vm": 0},
    )  # fmt: skip
    body = student_client.get(reverse("labs:detail", args=["emulation"])).content.decode()
    assert "include_vm=" not in body and "Include the VM: no" in body


def test_students_runs_name_the_measure_and_count_one_student_right(
    instructor_client, instructor, student, all_ready
):
    from labs.distribution import StudentValue, distribution_figure
    from labs.experiments import get_lab

    make_run(student)
    enrol(student, instructor)
    lab = get_lab("boot-race")
    body = instructor_client.get(reverse("labs:instructor_runs", args=["boot-race"])).content
    header = body.decode().split("<thead>")[1].split("</thead>")[0]
    key = lab.predict_keys[0]
    assert key not in header and lab.summary_labels[key] in header

    one = distribution_figure(lab, key, [StudentValue(1, "ana", 119.5, 1)], mine=None, names=True)
    assert "of 1 student" in one.layout.title.text and "students" not in one.layout.title.text
    low, high = one.layout.xaxis.range
    assert low < 119.5 < high and high - low > 10  # not a lone dot on a sliver of axis
