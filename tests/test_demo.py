"""``manage.py demo``: loads a slice of the corpus, prints searches, reuses data on a rerun."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.example_helpers import requires_example_app

pytestmark = [requires_example_app, pytest.mark.django_db]

RESULT_LINE = re.compile(r"^\s+\d\. (-?\d\.\d{3})  (\S+)$", re.MULTILINE)


def demo(*args, **kwargs):
    out = StringIO()
    call_command("demo", *args, stdout=out, **kwargs)
    return out.getvalue()


@pytest.fixture(autouse=True)
def hashing_embedder(settings):
    settings.DOCUMENTS_EMBEDDER = None


def test_demo_loads_embeds_and_prints_searches_with_scores():
    from example_project.documents.models import Document

    output = demo("--limit", "60", "--batch-size", "25")
    assert Document.objects.count() == 60
    assert not Document.objects.filter(embedding__isnull=True).exists()
    assert "60 documents." in output
    assert "Embedded and saved 25/60 documents." in output
    assert "Embedded and saved 60/60 documents." in output
    assert '"read and write CSV files"' in output
    assert '"compress data with gzip"' in output
    scores = [float(score) for score, _ in RESULT_LINE.findall(output)]
    assert len(scores) >= 12  # four searches with three results each, and more
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert "similar(limit=3)" in output
    assert "python manage.py runserver" in output
    assert "createsuperuser" in output


def test_demo_results_come_from_the_database_best_first():
    from example_project.documents.models import Document

    output = demo("--limit", "40")
    section = output.split('"parse command line arguments"', 1)[1].split("\n\n", 1)[0]
    rows = RESULT_LINE.findall(section)
    assert len(rows) == 3
    titles = set(Document.objects.values_list("title", flat=True))
    assert {title for _, title in rows} <= titles
    scores = [float(score) for score, _ in rows]
    assert scores == sorted(scores, reverse=True)


def test_demo_second_run_reuses_the_documents():
    from example_project.documents.models import Document

    demo("--limit", "30")
    before = dict(Document.objects.values_list("pk", "title"))
    output = demo("--limit", "50")
    assert "Reusing the 30 documents already loaded" in output
    assert dict(Document.objects.values_list("pk", "title")) == before


def test_demo_embeds_rows_left_without_a_vector():
    from example_project.documents.models import Document

    demo("--limit", "20")
    Document.objects.filter(pk__in=Document.objects.values("pk")[:5]).update(embedding=None)
    output = demo()
    assert "Embedding 5 documents that have no vector yet." in output
    assert not Document.objects.filter(embedding__isnull=True).exists()


def test_demo_reset_reloads():
    from example_project.documents.models import Document

    demo("--limit", "10")
    first_pks = set(Document.objects.values_list("pk", flat=True))
    output = demo("--limit", "15", "--reset")
    assert "Deleted 10 documents (--reset)." in output
    assert Document.objects.count() == 15
    assert not first_pks & set(Document.objects.values_list("pk", flat=True))


def test_demo_is_silent_at_verbosity_zero():
    from example_project.documents.models import Document

    assert demo("--limit", "10", verbosity=0) == ""
    assert Document.objects.count() == 10


@pytest.mark.parametrize("option", ["--limit", "--batch-size"])
def test_demo_rejects_non_positive_numbers(option):
    with pytest.raises(CommandError, match=f"{option} must be at least 1"):
        demo(option, "0")
