"""Settings for the test suite: real PostgreSQL with pgvector.

``DATABASE_URL`` picks the server; without it an embedded server is started for the
session in a temporary directory and removed at exit.
"""

from vectra_django.testing import embedded

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "django_tasks",
    "vectra_django",
    "tests.testapp",
    "example_project.documents",
]
DATABASES = {"default": embedded.database_config()}
# A read replica of the same data (the replica tests route reads to it).
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
VECTRA = {
    "default": {
        "PROVIDER": "pgvector",
        "DATABASE": "default",
        "MAX_RETRIES": 2,
        "RETRY_DELAY": 0.01,
    },
    "memory": {"PROVIDER": "memory"},
    "counting": {"PROVIDER": "tests.testapp.providers.CountingMemoryProvider"},
}
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
VECTRA_INSTRUMENTATION = False
LOGGING_CONFIG = None
# The example app's pages are served by the browser test's live server.
STATIC_URL = "static/"
# The admin (tests/test_admin.py, the browser test) needs sessions, auth and messages.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
