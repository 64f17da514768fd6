"""text_search and hybrid_search in place: the tsvector column, its GIN index, one statement."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.db.models import F
from django.template import Context, Engine
from django.test.utils import CaptureQueriesContext

from tests.testapp.embedders import counting
from tests.testapp.models import Document, Entry
from vectra_django import QueryResult, clients, on_operation
from vectra_django.errors import ValidationError

pytestmark = pytest.mark.django_db

ROWS = [
    ("Quokka sightings", "A rare marsupial seen on Rottnest island.", "animals"),
    ("Road works", "Traffic cones on the main road all week.", "city"),
    ("Zebra crossing", "Stripes painted on the road near the school.", "city"),
    ("Lions", "Big cats of the savanna hunt at night.", "animals"),
    ("Night markets", "Food stalls open at night by the river.", "city"),
    ("Savanna grasses", "Grasslands feed the herds of the savanna.", "nature"),
]


@pytest.fixture(autouse=True)
def fresh_clients(settings):
    settings.VECTRA_SYNC = "immediate"
    clients.reset()
    yield
    clients.reset()


@pytest.fixture
def entries() -> dict[str, Entry]:
    return {
        title: Entry.objects.create(title=title, body=body, category=category)
        for title, body, category in ROWS
    }


def test_a_rare_exact_word_ranks_first(entries):
    found = list(Entry.objects.text_search("quokka"))
    assert [e.title for e in found] == ["Quokka sightings"]
    assert 0 < found[0].text_score < 1


def test_text_search_ranks_best_first_with_scores(entries):
    found = list(Entry.objects.text_search("savanna", limit=5))
    assert {e.title for e in found} == {"Lions", "Savanna grasses"}
    assert found[0].title == "Savanna grasses"  # the word twice, once in the title
    assert found[0].text_score > found[1].text_score


def test_text_search_uses_web_search_syntax(entries):
    assert {e.title for e in Entry.objects.text_search("road -zebra")} == {"Road works"}
    assert {e.title for e in Entry.objects.text_search('"main road"')} == {"Road works"}
    assert {e.title for e in Entry.objects.text_search("quokka or lions")} == {
        "Quokka sightings",
        "Lions",
    }


def test_text_search_stems_with_the_english_configuration(entries):
    assert "Lions" in {e.title for e in Entry.objects.text_search("hunting")}


def test_text_search_chains_after_filter_and_takes_filter(entries):
    assert {e.title for e in Entry.objects.filter(category="city").text_search("night")} == {
        "Night markets"
    }
    found = Entry.objects.text_search("night", filter={"category": "animals"})
    assert [e.title for e in found] == ["Lions"]


def test_text_search_follows_updates_of_any_kind(entries):
    Entry.objects.filter(title="Lions").update(body="Now about quokkas instead.")
    assert {e.title for e in Entry.objects.text_search("quokka")} == {"Quokka sightings", "Lions"}


def worst_case_text(words: int) -> str:
    """Hyphenated words of 4-byte letters, 6 characters each with the space: about 8 bytes
    of ``tsvector`` a character, the dearest text for PostgreSQL's 1 MB limit."""
    rng = random.Random(5)
    letters = [chr(c) for c in range(0x20000, 0x21388)]  # CJK extension B
    return " ".join(
        "".join(rng.choices(letters, k=2)) + "-" + "".join(rng.choices(letters, k=2))
        for _ in range(words)
    )


def test_a_text_too_long_for_a_tsvector_saves_and_its_beginning_is_searched(entries):
    filler = worst_case_text(25_000)  # 150,000 characters: 1.15 MB of tsvector in full
    entry = Entry.objects.create(title="Long", body=f"okapi {filler} narwhal")
    assert [e.title for e in Entry.objects.text_search("okapi")] == ["Long"]
    assert list(Entry.objects.text_search("narwhal")) == []  # past the first 100,000
    Entry.objects.filter(pk=entry.pk).update(body=f"narwhal {filler}")
    assert [e.title for e in Entry.objects.text_search("narwhal")] == ["Long"]
    Entry.objects.bulk_create([Entry(title="Longer", body=f"{filler} okapi {filler}")])
    entry.refresh_from_db()
    assert entry.body == f"narwhal {filler}"  # the row keeps all of it


@pytest.mark.parametrize("text", ["&|!():*'", "a & b | !c", "'quoted", "fox:*", "(((", "!"])
def test_tsquery_syntax_characters_give_a_normal_result(entries, text):
    assert isinstance(list(Entry.objects.text_search(text)), list)
    assert isinstance(list(Entry.objects.hybrid_search(text)), list)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("   \n\t", "empty"), ("a\x00b", "NUL"), ("x" * 100_000, "at most")],
)
def test_bad_text_is_a_validation_error(entries, text, message):
    with pytest.raises(ValidationError, match=message):
        Entry.objects.text_search(text)
    with pytest.raises(ValidationError, match=message):
        Entry.objects.hybrid_search(text)


def test_a_field_without_keyword_search_says_how_to_get_it():
    with pytest.raises(ValidationError, match="text_search=True"):
        Document.objects.text_search("anything")
    with pytest.raises(ValidationError, match="text_search=True"):
        Document.objects.hybrid_search("anything", vector=[1, 0, 0])


def test_hybrid_returns_rows_of_either_leg_with_scores_descending(entries):
    vector = entries["Quokka sightings"].embedding
    found = list(Entry.objects.hybrid_search("quokka", vector=vector, limit=6))
    scores = [e.hybrid_score for e in found]
    assert scores == sorted(scores, reverse=True)
    assert found[0].title == "Quokka sightings"  # first in both legs
    vector_only = [e for e in found if e.text_score is None]
    assert vector_only, "rows only the vector leg found are fused in too"
    assert all(e.vector_score is not None for e in vector_only)
    quokka = found[0]
    assert quokka.text_score > 0 and quokka.vector_score == pytest.approx(1.0, abs=1e-6)


def test_hybrid_scores_are_the_reciprocal_rank_fusion(entries):
    found = list(Entry.objects.hybrid_search("savanna", limit=6, rrf_k=10))
    vector_order = [
        e.title for e in Entry.objects.vector_search(counting.embed(["savanna"])[0], limit=6)
    ]
    text_order = [e.title for e in Entry.objects.text_search("savanna", limit=6)]
    for e in found:
        expected = 0.0
        if e.title in vector_order:
            expected += 1 / (10 + vector_order.index(e.title) + 1)
        if e.title in text_order:
            expected += 1 / (10 + text_order.index(e.title) + 1)
        assert e.hybrid_score == pytest.approx(expected)


def test_weights_move_the_order(entries):
    vector = Entry.objects.get(title="Night markets").embedding

    def first(weights):
        return Entry.objects.hybrid_search("quokka", vector=vector, weights=weights)[0].title

    assert first((0.01, 1)) == "Quokka sightings"
    assert first((1, 0.01)) == "Night markets"


def test_a_zero_weight_leg_is_left_out(entries):
    vector = Entry.objects.get(title="Lions").embedding
    text_only = list(Entry.objects.hybrid_search("road", vector=vector, weights=(0, 1)))
    assert {e.title for e in text_only} == {"Road works", "Zebra crossing"}
    assert all(e.vector_score is None for e in text_only)
    vector_only = list(Entry.objects.hybrid_search("road", vector=vector, weights=(1, 0), limit=3))
    assert vector_only[0].title == "Lions"
    assert all(e.text_score is None for e in vector_only)


def test_hybrid_without_vector_embeds_the_text(entries):
    counting.batches.clear()
    list(Entry.objects.hybrid_search("night"))
    assert counting.texts == ["night"]


def test_text_the_embedder_cannot_place_leaves_the_keyword_leg(entries):
    found = list(Entry.objects.hybrid_search("!!!"))  # no word: a zero vector, no direction
    assert found == []


def test_filters_apply_to_both_legs(entries):
    found = list(Entry.objects.filter(category="animals").hybrid_search("road night"))
    assert {e.category for e in found} == {"animals"}
    found = list(Entry.objects.hybrid_search("night", filter={"category": {"$ne": "city"}}))
    assert found and "Night markets" not in {e.title for e in found}


def test_hybrid_search_is_one_statement_and_a_queryset(entries):
    qs = Entry.objects.hybrid_search("road", limit=3)
    with CaptureQueriesContext(connection) as queries:
        found = list(qs)
    searches = [q["sql"] for q in queries if "websearch_to_tsquery" in q["sql"]]
    assert len(searches) == 1 and "<=>" in searches[0]
    assert len(found) == 3
    assert qs.count() == 3
    assert list(qs.values_list("title", flat=True)) == [e.title for e in found]


def test_results_render_in_a_template(entries):
    template = Engine().from_string(
        "{% for e in rows %}{{ e.title }}={{ e.text_score|floatformat:2 }};{% endfor %}"
    )
    rendered = template.render(Context({"rows": Entry.objects.hybrid_search("quokka", limit=2)}))
    assert rendered.startswith("Quokka sightings=")


def test_text_search_goes_through_the_gin_index():
    """The planner may prefer a scan of a small table; with scans off, only an index that
    serves ``@@`` on the stored column can answer (benchmarks/hybrid.py checks 100k rows)."""
    Entry.objects.bulk_create(
        Entry(title=f"entry {i}", body=f"common words and token{i}", embedding=[1.0] * 8)
        for i in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE testapp_entry")
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = Entry.objects.text_search("token1234").explain()
    assert "Bitmap Index Scan" in plan and "_gin" in plan, plan
    hybrid = Entry.objects.hybrid_search("token1234", vector=[1.0] * 8).explain()
    assert "_gin" in hybrid, hybrid
    assert "to_tsvector" not in hybrid


def test_the_query_text_is_parsed_once_per_statement_not_per_matching_row():
    """The keyword query is a sub-select (an InitPlan), evaluated once: the rank of each
    match reads its result instead of parsing the text again."""
    verbose = Entry.objects.text_search("savanna grasses").explain(verbose=True)
    assert "InitPlan" in verbose, verbose
    ranked = [line for line in verbose.splitlines() if "ts_rank(" in line]
    assert ranked and all("websearch_to_tsquery" not in line for line in ranked), verbose


def test_search_events_are_instrumented(entries, settings):
    settings.VECTRA_INSTRUMENTATION = True
    events = []
    on_operation(events.append)
    list(Entry.objects.text_search("road"))
    list(Entry.objects.hybrid_search("road"))
    operations = [(e.operation, e.metadata.get("result_count")) for e in events]
    assert ("text_search", 2) in operations and ("hybrid_search", 6) in operations


def test_bad_options_are_validation_errors(entries):
    for kwargs, message in [
        ({"weights": (0, 0)}, "nothing to rank"),
        ({"weights": (1,)}, "pair"),
        ({"weights": (-1, 1)}, "negative"),
        ({"rrf_k": 0}, "rrf_k"),
        ({"candidates": 5, "limit": 10}, "fewer"),
        ({"limit": 0}, "limit"),
        ({"vector": [1, 2]}, "dimension"),
        ({"namespace": "x"}, "namespace"),
    ]:
        with pytest.raises(ValidationError, match=message):
            Entry.objects.hybrid_search("road", **kwargs)


def test_load_records_false_is_refused_nowhere_and_keeps_the_queryset(entries):
    result = Entry.objects.text_search("road", load_records=False)
    assert not isinstance(result, QueryResult)  # in place, rows come as a queryset
    assert Entry.objects.text_search("road").annotate(t=F("title")).exists()


def test_an_empty_queryset_searches_nothing(entries):
    assert list(Entry.objects.none().hybrid_search("road")) == []
    assert list(Entry.objects.none().text_search("road")) == []


@pytest.mark.parametrize("method", ["text_search", "hybrid_search"])
def test_a_repeated_shape_reuses_its_statement_with_the_new_text(entries, method):
    from vectra_django.db.search import statement_cache

    def titles(qs, text):
        return [(e.title, getattr(e, "text_score", None)) for e in getattr(qs, method)(text)]

    titles(Entry.objects, "night")
    kept = dict(statement_cache._kept(connection.alias))
    for text in ("road", "savanna", "quokka or lions"):
        fresh = titles(Entry.objects.filter(pk__gt=0), text)  # compiled anew
        assert titles(Entry.objects, text) == fresh and fresh
    assert statement_cache._kept(connection.alias).keys() == kept.keys()
