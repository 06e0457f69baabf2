"""Charts that work on a phone: every lab run page's chart, and the students' runs
chart, at 390 px (a phone) and 1366 px (a laptop) in chromium.

The runs are the real measurements of ``lab_runs.json`` (see test_accessibility.py).
Each page is screenshotted into ``var/test-artifacts/charts/<viewport>/``. What is
checked is geometry read from the drawn SVG: the page never scrolls sideways, the
chart fits its card, and the title, legend, axis titles and panels all sit inside
the drawing without covering one another.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from courseware.models import Classroom
from tests.browser.captured_runs import store_captured_runs
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("VIRTLAB_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts"))
VIEWPORTS = {"phone": (390, 844), "desktop": (1366, 768)}

# Rectangles of the drawn chart, in page pixels: the SVG, the title, the legend, each
# panel's plot area and each axis title.
GEOMETRY_JS = """(element) => {
    const rect = (node) => {
        const r = node.getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                width: r.width, height: r.height};
    };
    const all = (selector) => Array.from(element.querySelectorAll(selector))
        .filter((n) => n.getBoundingClientRect().width > 0).map(rect);
    const one = (selector) => { const found = all(selector); return found.length ? found[0] : null; };
    return {
        layout: element.dataset.layout,
        hostFactsInside: element.textContent.includes('Measured on:'),
        card: rect(element),
        svg: rect(element.querySelector('.main-svg')),
        title: one('.g-gtitle .gtitle'),
        legend: one('.legend .bg'),
        panels: all('.draglayer .nsewdrag'),
        axisTitles: all('.g-xtitle text, .g-ytitle text, [class^="g-x"][class$="title"] text,'
                        + ' [class^="g-y"][class$="title"] text'),
    };
}"""


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["right"] <= b["left"] + 1
        or b["right"] <= a["left"] + 1
        or a["bottom"] <= b["top"] + 1
        or b["bottom"] <= a["top"] + 1
    )


def _inside(inner: dict, outer: dict) -> bool:
    return (
        inner["left"] >= outer["left"] - 1
        and inner["right"] <= outer["right"] + 1
        and inner["top"] >= outer["top"] - 1
        and inner["bottom"] <= outer["bottom"] + 1
    )


def _problems(name: str, width: int, geometry: dict) -> list[str]:
    found = []
    svg, card = geometry["svg"], geometry["card"]
    if svg["width"] > card["width"] + 1 or svg["right"] > width:
        found.append(f"{name}: chart {svg['width']:.0f} px wide in a {card['width']:.0f} px card")
    if geometry["hostFactsInside"]:
        found.append(f"{name}: the host's facts are inside the chart as well as its caption")
    title, legend, panels = geometry["title"], geometry["legend"], geometry["panels"]
    if title and not _inside(title, svg):
        found.append(f"{name}: the title runs out of the chart")
    if legend and not _inside(legend, svg):
        found.append(f"{name}: the legend runs out of the chart")
    if title and legend and _overlap(title, legend):
        found.append(f"{name}: the legend covers the title")
    for i, panel in enumerate(panels):
        if legend and _overlap(legend, panel):
            found.append(f"{name}: the legend covers panel {i + 1}")
        if title and _overlap(title, panel):
            found.append(f"{name}: the title covers panel {i + 1}")
        found += [
            f"{name}: panels {i + 1} and {j + 1} overlap"
            for j, other in enumerate(panels[i + 1 :], start=i + 1)
            if _overlap(panel, other)
        ]
    for text in geometry["axisTitles"]:
        if not _inside(text, svg):
            found.append(f"{name}: an axis title is cut off at the chart's edge")
    if width < 600:
        if geometry["layout"] != "narrow":
            found.append(f"{name}: not laid out for a phone")
        narrow = [p for p in panels if p["width"] < 0.6 * svg["width"]]
        if narrow:
            found.append(f"{name}: {len(narrow)} panel(s) squeezed side by side on a phone")
    return found


def _log_in(page, user) -> None:
    page.goto(reverse("login"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def _check_pages(browser, live_server, user, pages, viewport) -> list[str]:
    width, height = VIEWPORTS[viewport]
    out = ARTIFACTS / "charts" / viewport
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": height}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    problems: list[str] = []
    try:
        _log_in(page, user)
        for name, url in pages:
            page.goto(url)
            charts = page.locator("[data-chart]")
            assert charts.count(), f"{name}: no chart on {url}"
            page.locator("[data-chart][data-layout]").first.wait_for(timeout=20_000)
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('[data-chart]'))"
                ".every((c) => c.dataset.layout)"
            )
            page.screenshot(path=out / f"{name}.png", full_page=True)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                problems.append(f"{name}: the page scrolls sideways ({scroll} px at {width} px)")
            for index in range(charts.count()):
                geometry = charts.nth(index).evaluate(GEOMETRY_JS)
                problems += _problems(name, width, geometry)
    finally:
        context.close()
    return problems + [f"JavaScript error: {e}" for e in errors]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_lab_run_chart_fits_and_reads_on_a_phone_and_a_laptop(
    browser, live_server, student, viewport
):
    runs = store_captured_runs(student)
    pages = [(f"run-{slug}", run.get_absolute_url()) for slug, run in runs.items()]
    problems = _check_pages(browser, live_server, student, pages, viewport)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_students_runs_chart_fits_on_a_phone_and_a_laptop(
    browser, live_server, course, instructor, viewport
):
    teacher = Client()
    teacher.force_login(instructor)
    teacher.post(reverse("courseware:class_new"), {"name": "Virtualization A"})
    classroom = Classroom.objects.get()
    for name in ("ana", "ben", "chen"):
        learner = get_user_model().objects.create_user(name, password=PASSWORD)
        joined = Client()
        joined.force_login(learner)
        joined.post(reverse("courseware:class_join"), {"code": classroom.join_code})
        store_captured_runs(learner)
    pages = [
        (f"students-runs-{slug}", reverse("labs:instructor_runs", args=[slug]))
        for slug in ("boot-race", "networking", "desktop-capacity")
    ]
    problems = _check_pages(browser, live_server, instructor, pages, viewport)
    assert not problems, "\n".join(problems)


def test_a_chart_is_laid_out_again_when_the_window_crosses_a_phones_width(
    browser, live_server, student
):
    run = store_captured_runs(student)["limits"]
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        _log_in(page, student)
        page.goto(run.get_absolute_url())
        chart = page.locator("[data-chart]")
        page.locator("[data-chart][data-layout='wide']").wait_for(timeout=20_000)
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator("[data-chart][data-layout='narrow']").wait_for(timeout=20_000)
        assert _problems("limits, turned to a phone", 390, chart.evaluate(GEOMETRY_JS)) == []
        page.set_viewport_size({"width": 1366, "height": 768})
        page.locator("[data-chart][data-layout='wide']").wait_for(timeout=20_000)
        panels = chart.evaluate(GEOMETRY_JS)["panels"]
        assert len({round(p["top"]) for p in panels}) < len(panels)  # side by side again
    finally:
        context.close()


def test_the_host_facts_are_the_caption_and_a_downloaded_png_keeps_them(
    browser, live_server, student, tmp_path
):
    run = store_captured_runs(student)["boot-race"]
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1366, "height": 768}, accept_downloads=True
    )
    page = context.new_page()
    try:
        _log_in(page, student)
        page.goto(run.get_absolute_url())
        page.locator("[data-chart][data-layout='wide']").wait_for(timeout=20_000)
        assert "Measured on this server" in page.locator("figcaption").inner_text()
        assert "Measured on:" not in page.locator("[data-chart]").inner_text()
        page.locator("[data-chart]").hover()
        with page.expect_download() as download:
            page.locator('.modebar-btn[data-title^="Download as a PNG"]').click()
        saved = tmp_path / "chart.png"
        download.value.save_as(saved)
        assert download.value.suggested_filename == "virtlab-chart.png"
        assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        context.close()
