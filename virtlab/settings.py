"""virtlab settings.

Configuration comes from the environment (README, "Configuration"): DATABASE_URL,
SECRET_KEY, ALLOWED_HOSTS, DEBUG, VIRTLAB_HTTPS. Defaults suit one machine serving
http://127.0.0.1:8000 from a fresh clone.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VIRTLAB_VAR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def load_secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in var/."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    return key_file.read_text().strip()


SECRET_KEY = load_secret_key()
DEBUG = env_flag("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "courseware",
    "labs",
    "terminals",
    "lti_tool",  # django-lti: platform registrations, deployments, contexts, our keys
    "lti",  # virtlab as an LTI 1.3 tool (docs/lti.md)
    "virtlab",  # site-wide management commands (backup, restore) that span both apps
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside the session, CSRF, X-Frame-Options and CSP middleware: in a session an LTI
    # launch started, it lets the registered platform frame the page and marks the
    # session and CSRF cookies SameSite=None over HTTPS (lti/frames.py).
    "lti.frames.LtiFrameMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After htmx's (it reads request.htmx): a bare 405 becomes a page that explains itself.
    "virtlab.errors.MethodNotAllowedPage",
    "courseware.login_guard.LoginThrottleMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into our refusal page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out account is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Loads a signed-in session's user with a prepared query; signs no one in
    # (virtlab/sessions.py).
    "virtlab.sessions.SessionUserBackend",
]

ROOT_URLCONF = "virtlab.urls"
WSGI_APPLICATION = "virtlab.wsgi.application"
# What scripts/serve runs: every page and the terminals' WebSockets (virtlab/asgi.py).
ASGI_APPLICATION = "virtlab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "courseware.context_processors.roles",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}", conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the lab worker write at once: WAL and a busy timeout keep
    # SQLite from answering "database is locked" under a classroom's load.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Connections are kept (CONN_MAX_AGE above) under ASGI too: Django's ASGI handler
    # would run each request in a new thread, and a connection belongs to its thread,
    # but virtlab/asgi.py reuses the threads (virtlab/request_threads.py). A connection
    # opened per request cost a signed-in page about 2.5 ms: bench/page_throughput.py.
    # A file, not memory, so a lab worker started by a test sees the test's data;
    # one per test process so two test runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    # On a server (PostgreSQL: scripts/test-postgres), a test database per test process
    # too, so two test runs against one server never drop each other's.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (courseware/login_guard.py, courseware/throttle.py): an account is
# locked after this many wrong passwords in a row, whatever the address, for the
# cool-off time; a correct password before then resets the count.
AXES_FAILURE_LIMIT = int(os.environ.get("VIRTLAB_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("VIRTLAB_LOGIN_LOCK_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "courseware.login_guard.locked_out"
AXES_CLIENT_IP_CALLABLE = "courseware.throttle.axes_client_address"
AXES_VERBOSE = False
# axes warns that it does not count per address; we do (LOGIN_FAILURES_PER_ADDRESS),
# with a bigger budget than per account, since a class may share one NAT address.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# Proxies in front of the web server that append to X-Forwarded-For (0: none, the
# client is REMOTE_ADDR). Throttles count per client address.
VIRTLAB_PROXY_COUNT = int(os.environ.get("VIRTLAB_PROXY_COUNT", "0"))
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Per web process: parts of the lesson and quiz pages (HTML, a lesson's questions)
    # keyed by their content (courseware/fragments.py), so a change is never served stale.
    "template_fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "virtlab-fragments",
        "OPTIONS": {"MAX_ENTRIES": 4000},
    },
    # Shared by every web worker: the throttles' counters (`manage.py createcachetable`).
    "throttle": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "virtlab_throttle",
    },
    # Shared by every web worker: LTI's OIDC state, nonces and launch data, written by
    # the worker that answers the login and read by whichever answers the launch.
    "lti": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "virtlab_lti",
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "courseware:home"
LOGOUT_REDIRECT_URL = "courseware:home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Nothing is loaded from another host. Plotly draws with inline style attributes,
# which is why style-src allows them; scripts need our origin or the page's nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, their read prepared once per process (virtlab/sessions.py).
SESSION_ENGINE = "virtlab.sessions"

# Behind HTTPS (a class server), turn on the transport settings `check --deploy` asks for.
if env_flag("VIRTLAB_HTTPS"):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "labs"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line_forbidden": {"()": "virtlab.errors.OneLineForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        # axes logs every failed sign-in at INFO; lockouts (WARNING) are what matters.
        "axes": {"level": "WARNING"},
        # A refused page (403) is one line in the log, like a 404, not a traceback.
        "django.request": {"filters": ["one_line_forbidden"]},
    },
}

# --- virtlab -------------------------------------------------------------------
# A lesson counts as mastered when its quiz score reaches this fraction.
VIRTLAB_MASTERY_THRESHOLD = float(os.environ.get("VIRTLAB_MASTERY_THRESHOLD", "0.8"))
# Quotas: runs queued or running per student, and sandboxes at once on this host.
VIRTLAB_MAX_ACTIVE_RUNS_PER_USER = int(os.environ.get("VIRTLAB_MAX_ACTIVE_RUNS_PER_USER", "2"))
VIRTLAB_MAX_RUNNING_SANDBOXES = int(os.environ.get("VIRTLAB_MAX_RUNNING_SANDBOXES", "2"))
# Sandboxes are named after their run (vl<id>-…); the id is the LabRun's pk plus a
# base: this one when set, else a range this instance picked for itself once (kept in
# var/instance.json). Every id is also claimed host-wide before use, and the reaper
# removes only what its own instance claimed (labs/sandbox/ownership.py), so two
# servers and a test run on one host never reap or collide with each other.
VIRTLAB_SANDBOX_ID_BASE = (
    int(os.environ["VIRTLAB_SANDBOX_ID_BASE"])
    if os.environ.get("VIRTLAB_SANDBOX_ID_BASE")
    else None
)
VIRTLAB_SANDBOX_ID_SPAN = int(os.environ.get("VIRTLAB_SANDBOX_ID_SPAN", "1000000"))
# Runs waiting or running on the whole host before new ones are refused.
VIRTLAB_MAX_QUEUED_RUNS = int(os.environ.get("VIRTLAB_MAX_QUEUED_RUNS", "30"))
# Lab hosts sharing this database (docs/architecture.md, "Several lab hosts"): this
# worker's host id (default: the instance id in var/instance.json), and how long a
# host may go without a heartbeat before another host's sweeper fails its runs.
VIRTLAB_HOST_ID = os.environ.get("VIRTLAB_HOST_ID", "").strip() or None
VIRTLAB_HOST_DEAD_AFTER = int(os.environ.get("VIRTLAB_HOST_DEAD_AFTER", "90"))
# Browser terminals (terminals/): live shells per student, on the whole host, and
# their clocks. A session nobody is connected to is ended after the grace period.
VIRTLAB_TERMINALS_PER_STUDENT = int(os.environ.get("VIRTLAB_TERMINALS_PER_STUDENT", "1"))
VIRTLAB_TERMINALS_MAX = int(os.environ.get("VIRTLAB_TERMINALS_MAX", "10"))
VIRTLAB_TERMINAL_IDLE_SECONDS = int(os.environ.get("VIRTLAB_TERMINAL_IDLE_SECONDS", "600"))
VIRTLAB_TERMINAL_LIFETIME_SECONDS = int(os.environ.get("VIRTLAB_TERMINAL_LIFETIME_SECONDS", "2700"))
VIRTLAB_TERMINAL_GRACE_SECONDS = int(os.environ.get("VIRTLAB_TERMINAL_GRACE_SECONDS", "60"))
# Where the terminal host (manage.py terminal_host) listens; one per instance.
VIRTLAB_TERMINAL_SOCKET = os.environ.get("VIRTLAB_TERMINAL_SOCKET") or None
# Where the shipped course lives as files.
VIRTLAB_CONTENT_DIR = BASE_DIR / "courseware" / "content"
# The glossary `import_course` installed from the files it imported; until one has, the
# shipped `VIRTLAB_CONTENT_DIR/glossary.yaml` is served. Kept in var/, so importing
# never rewrites a file of the repository.
VIRTLAB_GLOSSARY_INSTALLED = VAR_DIR / "glossary.yaml"

STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "labs.staticfinders.PlotlyFinder",
]
