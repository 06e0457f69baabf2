"""Error pages look like the site, say what happened and lead back; a 403 logs one line."""

import logging

import pytest
from django.core.exceptions import BadRequest
from django.test import Client
from django.urls import include, path


def _boom(request):
    raise RuntimeError("a bug")


def _bad(request):
    raise BadRequest("malformed")


# The site's own URLs plus two that fail on purpose (used through ROOT_URLCONF below).
urlpatterns = [
    path("test-500/", _boom),
    path("test-400/", _bad),
    path("", include("virtlab.urls")),
]


def _assert_site_page(response, status: int, sentence: str) -> str:
    page = response.content.decode()
    assert response.status_code == status
    assert 'aria-label="Main"' in page and 'href="/labs/"' in page  # navigation is there
    assert f"Error {status}" in page and sentence in page
    return page


@pytest.mark.django_db
def test_404_names_the_address_and_leads_back(client):
    page = _assert_site_page(client.get("/no-such-page/"), 404, "There is no page here")
    assert "<code>/no-such-page/</code>" in page


@pytest.mark.django_db
def test_a_get_of_a_post_only_url_explains_itself(student_client, course):
    response = student_client.get("/lessons/hypervisor-types/done/")
    page = _assert_site_page(response, 405, "a form's target, not a page")
    assert response["Allow"] == "POST"
    assert "only accepts POST from a button" in page
    # Logging out is a POST too; typing its address explains itself the same way.
    response = student_client.get("/accounts/logout/")
    assert response.status_code == 405 and "only accepts POST from a button" in response.text


@pytest.mark.django_db
def test_htmx_requests_keep_the_bare_405(student_client, course):
    response = student_client.get("/lessons/hypervisor-types/done/", HTTP_HX_REQUEST="true")
    assert response.status_code == 405 and response.content == b""


@pytest.mark.django_db
def test_403_is_a_page_and_logs_one_line(student_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = student_client.get("/teach/")
    page = _assert_site_page(response, 403, "Your account cannot open this page")
    assert "signed in as <strong>stu</strong>" in page
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in records] == ["Forbidden (Permission denied): /teach/"]
    # What reaches the log file: the message, without the traceback Django attaches.
    formatted = [logging.Formatter().format(r) for r in records]
    assert all("Traceback" not in line and "\n" not in line for line in formatted)


@pytest.mark.django_db
def test_400_and_500_pages(settings, student):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    client.force_login(student)
    _assert_site_page(client.get("/test-400/"), 400, "could not make sense of that request")
    _assert_site_page(client.get("/test-500/"), 500, "Something went wrong on the server")


@pytest.mark.django_db
def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response.url.endswith("img/favicon.svg")
