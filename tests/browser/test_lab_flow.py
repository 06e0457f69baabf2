import pytest

from labs.models import LabRun

pytestmark = [pytest.mark.browser, pytest.mark.sandbox, pytest.mark.django_db(transaction=True)]


def test_student_runs_boot_race_and_sees_the_chart(page, student, lab_worker, course):
    from tests.conftest import PASSWORD

    page.goto("/accounts/login/?next=/labs/boot-race/")
    page.get_by_label("Username").fill(student.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/labs/boot-race/")

    page.get_by_label("Repeats").fill("2")
    page.get_by_role("button", name="Run on this server").click()
    page.wait_for_url("**/labs/boot-race/runs/*/")

    # Progress is shown while the worker runs it (queued or running, then samples).
    page.locator(".run-status").first.wait_for()
    assert page.locator(".run-status").first.inner_text() in {"Queued", "Running", "Succeeded"}
    page.locator(".run-status.succeeded, .run-status.failed").wait_for(timeout=150_000)
    run = LabRun.objects.get()
    assert run.status == "succeeded", run.error

    # The chart is drawn by plotly.js from our own static files, under our CSP.
    page.locator(".chart .main-svg").first.wait_for(timeout=15_000)
    traces = page.evaluate(
        "Array.from(document.querySelector('.chart').data, t => [t.name, t.y.length])"
    )
    by_name = dict(traces)
    assert by_name["container (runc)"] == 2 and by_name["VM (QEMU)"] == 2
    rows = page.locator("table.data tbody tr")
    assert rows.count() == len(run.samples) >= 4
    assert "Measured on this server" in page.locator("figcaption").inner_text()
    assert page.console_errors == []
