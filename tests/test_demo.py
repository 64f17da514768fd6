"""``manage.py demo``: loads a slice of the corpus, prints searches, reuses data on a rerun."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.example_helpers import requires_example_app

pytestmark = [requires_example_app, pytest.mark.django_db]

RESULT_LINE = re.compile(r"^\s+\d\. (-?\d\.\d{3})  (\S+)$", re.MULTILINE)
KEYWORD_LINE = re.compile(r"^ {6}\d\. (\d\.\d{4})  (\S+)$", re.MULTILINE)
HYBRID_LINE = re.compile(
    r"^ {6}\d\. (\d\.\d{4})  (\S+)  \(vector (—|-?\d\.\d{3}), keyword (—|\d\.\d{4})\)$",
    re.MULTILINE,
)
# The modules the demo's keyword, vector and hybrid examples look in.
MODE_MODULES = ("os", "shutil", "gzip", "zlib")


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


# -- vector, keyword and hybrid ---------------------------------------------------------------


@pytest.fixture
def mode_documents():
    """The real documents of the modules the demo's mode examples are about."""
    from example_project.documents.corpus import iter_corpus
    from example_project.documents.models import Document

    entries = [entry for entry in iter_corpus() if entry.source in MODE_MODULES]
    return Document.objects.bulk_create(Document(**vars(entry)) for entry in entries)


def mode_block(output, query, mode):
    """The lines the demo prints for ``query`` in ``mode``."""
    lines = output.split(f'\n  "{query}": ', 1)[1].split("\n\n", 1)[0].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"    {mode} "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 6):  # the next mode, or where the document ranks
            break
        block.append(line)
    return "\n".join(block)


def test_demo_shows_each_mode_and_where_each_wins(mode_documents):
    output = demo()
    assert "Vector, keyword and hybrid searches:" in output
    # An exact name: only keyword search finds it, and hybrid keeps it first.
    assert re.search(
        r"\n      1\. 0\.\d{4}  shutil\.copytree$", mode_block(output, "shutil.copytree", "keyword")
    )
    assert "shutil.copytree" not in mode_block(output, "shutil.copytree", "vector")
    assert "shutil.copytree ranks: vector —, keyword 1, hybrid 1" in output
    # A description: every word must occur for keyword search, so vector search wins.
    keyword = KEYWORD_LINE.findall(mode_block(output, "compress data with gzip", "keyword"))
    assert [title for _, title in keyword] == ["zlib.compressobj"]
    assert "gzip.compress ranks: vector 1, keyword —, hybrid 2" in output
    # Both: os.walk is second by vector, above the vector leg's first once they are fused.
    assert "os.walk ranks: vector 2, keyword 1, hybrid 1" in output


def test_demo_hybrid_lines_show_the_fused_score_and_each_leg(mode_documents):
    output = demo()
    block = mode_block(output, "walk a directory tree", "hybrid")
    rows = HYBRID_LINE.findall(block)
    assert [title for _, title, _, _ in rows] == ["os.walk", "os.fwalk", "shutil"]
    fused = [float(score) for score, _, _, _ in rows]
    assert fused == sorted(fused, reverse=True)
    assert fused[0] == pytest.approx(1 / 62 + 1 / 61, abs=1e-4)  # 2nd by vector, 1st by keyword
    assert rows[0][2] != "—" and rows[0][3] != "—"
    assert rows[2][3] == "—"  # shutil: found by the vector leg alone
    assert "(— where one did not)" in output


def test_demo_says_when_a_mode_example_is_not_loaded():
    output = demo("--limit", "20")
    assert "(shutil.copytree is not loaded: load the whole corpus with --reset)" in output
    assert mode_block(output, "shutil.copytree", "keyword").endswith("(no results)")
    assert "ranks:" not in output
