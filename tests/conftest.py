import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from courseware.course_sync import course_import
from courseware.roles import instructors_group

PASSWORD = "a-long-test-passphrase-42"


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests must not depend on `collectstatic` having been run.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _immediate_tasks(settings):
    # Unit tests run tasks in-process; tests that need the real worker switch back.
    settings.TASKS = {
        "default": {
            "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "labs"],
        }
    }


@pytest.fixture(scope="session")
def host_capabilities(django_db_blocker):
    """Probe the host once per session (writes the cache the lab pages read)."""
    from labs import capabilities

    return {cap.name: cap for cap in capabilities.refresh()}


@pytest.fixture
def course(db, settings):
    course_import(root=settings.VIRTLAB_CONTENT_DIR)
    from courseware.models import Course

    return Course.objects.get()


@pytest.fixture
def student(db):
    return get_user_model().objects.create_user("stu", password=PASSWORD)


@pytest.fixture
def instructor(db):
    user = get_user_model().objects.create_user("teacher", password=PASSWORD)
    user.groups.add(instructors_group())
    return user


@pytest.fixture
def student_client(student):
    # Each role gets its own Client: the built-in ``client`` stays anonymous.
    client = Client()
    client.force_login(student)
    return client


@pytest.fixture
def instructor_client(instructor):
    client = Client()
    client.force_login(instructor)
    return client
