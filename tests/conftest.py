import logging
import os

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from courseware.coursefiles.sync import course_import
from virtlab.roles import instructors_group

PASSWORD = "a-long-test-passphrase-42"

# Test databases number their runs from 1, like a class server's database. Their
# sandboxes get ids of their own (100 000 apart per test process, below the ad-hoc
# range) so a test run never collides with — or reaps — a served class's sandboxes or
# another test run's. Lab worker subprocesses inherit it through the environment.
SANDBOX_ID_BASE = 100_000_000 + (os.getpid() % 8000) * 100_000
os.environ["VIRTLAB_SANDBOX_ID_BASE"] = str(SANDBOX_ID_BASE)
os.environ["VIRTLAB_SANDBOX_ID_SPAN"] = "100000"
# The test session is a virtlab instance of its own (labs/sandbox/ownership.py): it
# shares var/ with a developer's server, whose sandboxes it must never reap.
os.environ["VIRTLAB_INSTANCE"] = f"test-{os.getpid()}-{os.urandom(4).hex()}"


@pytest.fixture(autouse=True, scope="session")
def _reap_what_killed_test_sessions_left():
    """A test session killed mid-run (a timeout, a second Ctrl-C) leaves the sandboxes
    it had up, and no other instance may reap what it cannot prove is its own: the
    next session adopts the claims of dead test sessions and removes what is left."""
    from labs.stale import reap_dead_test_sessions

    report = reap_dead_test_sessions()
    if report.errors:
        logging.getLogger(__name__).warning("reaping dead test sessions: %s", report.errors)


@pytest.fixture(autouse=True, scope="session")
def _the_session_leaves_nothing_behind():
    """After the last test of this test process, nothing named after one of its runs
    may remain on the host: no process, cgroup, runc state, network namespace,
    interface, nftables table, mount or scratch directory. Checked at the session's
    end rather than by a "last" test, because under pytest-xdist no test runs last.

    "Its runs" are the ids this process claimed (labs/sandbox/ownership.py): another
    virtlab on the host, or the other test process, may be running labs right now, and
    their sandboxes are not leftovers. A failure here is reported as an error in the
    teardown of the process's last test."""
    yield
    from labs.sandbox import reaper

    leftovers = {kind: names for kind, names in reaper.inventory(owned_only=True).items() if names}
    assert leftovers == {}, f"the test session left these behind: {leftovers}"


@pytest.fixture(autouse=True)
def _give_up_empty_claims_after_each_test():
    """A run's sandbox id comes back after a rolled-back test: SQLite hands out the
    primary keys of rolled-back rows again. An id this session claimed would then be
    refused to the other instance a later test starts (a worker posing as a second
    host). So the claims a test made are given up once nothing named after them is
    left; an id with something left keeps its claim, for the check at the end."""
    from labs.sandbox import ownership

    before = set(ownership.claimed_ids())
    yield
    new = set(ownership.claimed_ids()) - before  # other processes' too: owns() sorts
    if new:
        from labs.sandbox import reaper

        for sandbox_id in new:
            if ownership.owns(sandbox_id) and not any(reaper.inventory(only={sandbox_id}).values()):
                ownership.release(sandbox_id)


@pytest.fixture(autouse=True, scope="session")
def _sandbox_ids_of_our_own():
    from django.conf import settings

    settings.VIRTLAB_SANDBOX_ID_BASE = SANDBOX_ID_BASE
    settings.VIRTLAB_SANDBOX_ID_SPAN = 100_000


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Test accounts are hashed with a cheap hasher, as Django's testing docs advise:
    the real one (PBKDF2 at 1.5 million rounds) costs 0.4 s of CPU per account or
    sign-in, minutes over the suite. The PBKDF2 hasher stays listed, so a hash made
    the real way still verifies. bench/ measures sign-in with the real settings."""
    from django.test import override_settings

    fast = override_settings(
        PASSWORD_HASHERS=[
            "django.contrib.auth.hashers.MD5PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ]
    )
    fast.enable()
    yield
    fast.disable()


@pytest.fixture(autouse=True)
def _glossary_installed_per_test(settings, tmp_path):
    # An import installs its glossary; in a test it must not reach the real var/.
    settings.VIRTLAB_GLOSSARY_INSTALLED = tmp_path / "installed-glossary.yaml"


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


DATABASE_BACKEND_TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "labs"],
    }
}


def worker_env() -> dict:
    """Environment for a lab worker subprocess that shares this test's database."""
    import os
    from urllib.parse import quote, urlencode

    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    else:  # PostgreSQL: the same server, the test database pytest-django created
        credentials = f"{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@"
        # Host and port go in the query, where a unix socket's directory survives
        # (dj-database-url lowercases a host written in the URL's address part).
        params = {**db.get("OPTIONS", {})}
        params |= {key.lower(): db[key] for key in ("HOST", "PORT") if db[key]}
        url = f"postgres://{credentials}/{quote(db['NAME'])}?{urlencode(params)}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "virtlab.settings"}


def start_lab_worker(log=None, **env):
    """A real `manage.py lab_worker` process on the test database, with ``env`` added to
    its environment (VIRTLAB_HOST_ID=…); its output goes to ``log`` when given."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (the child's)
    try:
        return subprocess.Popen(
            [sys.executable, "manage.py", "lab_worker"],
            cwd=root,
            env={**worker_env(), **env},
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    finally:
        if log:
            output.close()  # the child has its own copy


def stop_lab_worker(process) -> None:
    import signal
    import subprocess

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def lab_worker(settings, transactional_db, host_capabilities):
    """A real `manage.py lab_worker` process on the test database; stopped afterwards."""
    settings.TASKS = DATABASE_BACKEND_TASKS
    process = start_lab_worker()
    yield process
    stop_lab_worker(process)
