"""Shared by the example project's tests: settings for its pages and a small set of documents."""

from __future__ import annotations

import pytest
from django.apps import apps

INSTALLED = apps.is_installed("example_project.documents")
SKIP_REASON = "example_project.documents is not in INSTALLED_APPS (see tests/settings.py)"
requires_example_app = pytest.mark.skipif(not INSTALLED, reason=SKIP_REASON)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# (title, category, status, content): real docstrings, shortened.
DOCUMENTS = [
    (
        "csv.reader",
        "file-formats",
        "published",
        "Return a reader object which will iterate over lines in the given csv file. "
        "Each row read from the csv file is returned as a list of strings.",
    ),
    (
        "csv.writer",
        "file-formats",
        "published",
        "Return a writer object responsible for converting the user's data into delimited "
        "strings on the given file-like object. CSV rows are written with writerow.",
    ),
    (
        "csv.DictReader",
        "file-formats",
        "draft",
        "Create an object that operates like a regular csv reader but maps the information "
        "in each row read from the file to a dict whose keys are given by the fieldnames.",
    ),
    (
        "gzip.compress",
        "compression",
        "published",
        "Compress the data, returning a bytes object containing the compressed data. "
        "compresslevel and mtime have the same meaning as in the GzipFile constructor.",
    ),
    (
        "gzip.open",
        "compression",
        "published",
        "Open a gzip-compressed file in binary or text mode, for reading or writing.",
    ),
    (
        "zipfile.ZipFile",
        "compression",
        "draft",
        "Class with methods to open, read, write, close and list zip files.",
    ),
    (
        "argparse.ArgumentParser",
        "os",
        "published",
        "Object for parsing command line strings into Python objects: arguments, options "
        "and sub-commands, with help messages generated from the declared arguments.",
    ),
    (
        "smtplib.SMTP.send_message",
        "protocols",
        "published",
        "Converts message to a bytestring and passes it to sendmail: send an email "
        "message through the SMTP server.",
    ),
    (
        "json.loads",
        "internet-data",
        "published",
        "Deserialize a str, bytes or bytearray instance containing a JSON document to a "
        "Python object.",
    ),
    (
        "random.shuffle",
        "numbers",
        "published",
        "Shuffle list x in place, and return None.",
    ),
]


def create_documents():
    """Save ``DOCUMENTS`` (each save embeds its text); returns them by title."""
    from example_project.documents.models import Document

    return {
        title: Document.objects.create(
            title=title, category=category, status=status, content=content, source=title
        )
        for title, category, status, content in DOCUMENTS
    }


@pytest.fixture
def example_site(settings):
    """Serve the example's pages (without the admin) from the test settings."""
    settings.ROOT_URLCONF = "tests.urls_example"
    settings.TEMPLATES = TEMPLATES
    settings.DOCUMENTS_EMBEDDER = None  # the default HashingEmbedder
