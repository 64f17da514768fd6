"""text_search and hybrid_search on a synced field: records carry their text to the store,
whose keyword search answers; rows come back as instances, as vector_search's do."""

from __future__ import annotations

import pytest

from tests import remote_stores
from tests.testapp.models import RemoteEntry
from vectra_django import QueryResult, clients
from vectra_django.client.text import MAX_RECORD_TEXT_LENGTH
from vectra_django.errors import UnsupportedFeatureError, ValidationError

pytestmark = pytest.mark.django_db

ROWS = [
    ("Quokka sightings", "A rare marsupial seen on Rottnest island.", "animals"),
    ("Road works", "Traffic cones on the main road all week.", "city"),
    ("Zebra crossing", "Stripes painted on the road near the school.", "city"),
    ("Lions", "Big cats of the savanna hunt at night.", "animals"),
]


@pytest.fixture(autouse=True)
def immediate(settings):
    settings.VECTRA_SYNC = "immediate"


@pytest.fixture
def entries(remote_store) -> str:
    for title, body, category in ROWS:
        RemoteEntry.objects.create(title=title, body=body, category=category)
    return remote_store


def keyword_store(store: str) -> None:
    if store == "pinecone":
        pytest.skip("Pinecone has no keyword search here (see the next test)")


def carried(store: str, text: str) -> str | None:
    """The text a record carries to ``store``: none to Pinecone, which cannot search it."""
    return None if store == "pinecone" else text


def test_records_carry_the_text_fields(entries):
    stored = remote_stores.stored(RemoteEntry)
    lions = RemoteEntry.objects.get(title="Lions")
    assert stored[f"testapp_remoteentry_{lions.pk}"].text == carried(
        entries, "Lions\nBig cats of the savanna hunt at night."
    )


def test_a_text_change_reaches_the_store(entries):
    keyword_store(entries)
    RemoteEntry.objects.filter(title="Lions").update(body="Now about quokkas.")
    lions = RemoteEntry.objects.get(title="Lions")
    assert remote_stores.stored(RemoteEntry)[f"testapp_remoteentry_{lions.pk}"].text == (
        "Lions\nNow about quokkas."
    )


def test_a_rare_exact_word_ranks_first(entries):
    keyword_store(entries)
    found = list(RemoteEntry.objects.text_search("quokka"))
    assert [e.title for e in found] == ["Quokka sightings"]
    assert found[0].text_score > 0


def test_text_search_applies_queryset_filters_and_filter(entries):
    keyword_store(entries)
    assert [e.title for e in RemoteEntry.objects.filter(category="city").text_search("road")] in (
        ["Road works", "Zebra crossing"],
        ["Zebra crossing", "Road works"],
    )
    found = RemoteEntry.objects.text_search("road", filter={"category": "animals"})
    assert list(found) == []


def test_hybrid_returns_rows_of_either_leg_with_scores(entries):
    keyword_store(entries)
    vector = RemoteEntry.objects.get(title="Lions").embedding
    found = list(RemoteEntry.objects.hybrid_search("quokka", vector=vector, limit=4))
    titles = [e.title for e in found]
    assert {"Quokka sightings", "Lions"} <= set(titles)
    scores = [e.hybrid_score for e in found]
    assert scores == sorted(scores, reverse=True)
    by_title = {e.title: e for e in found}
    assert by_title["Lions"].vector_score == pytest.approx(1.0, abs=1e-5)
    assert by_title["Quokka sightings"].text_score > 0
    assert by_title["Road works"].text_score is None


def test_hybrid_scores_match_the_in_place_scale(entries):
    keyword_store(entries)
    vector = RemoteEntry.objects.get(title="Quokka sightings").embedding
    found = RemoteEntry.objects.hybrid_search("quokka", vector=vector, weights=(2, 1))
    assert found[0].title == "Quokka sightings"
    assert found[0].hybrid_score == pytest.approx(2 / 61 + 1 / 61)


def test_load_records_false_returns_the_stores_matches(entries):
    keyword_store(entries)
    result = RemoteEntry.objects.text_search("quokka", load_records=False)
    assert isinstance(result, QueryResult)
    quokka = RemoteEntry.objects.get(title="Quokka sightings")
    assert result.ids == [f"testapp_remoteentry_{quokka.pk}"]


def test_a_store_without_keyword_search_says_so(entries):
    if entries != "pinecone":
        pytest.skip("only Pinecone lacks keyword search")
    with pytest.raises(UnsupportedFeatureError, match="text_search"):
        RemoteEntry.objects.text_search("quokka")
    with pytest.raises(UnsupportedFeatureError, match="hybrid_search"):
        RemoteEntry.objects.hybrid_search("quokka")


def test_filter_keys_must_be_metadata_fields(entries):
    with pytest.raises(ValidationError, match="not a metadata field"):
        RemoteEntry.objects.text_search("road", filter={"title": "x"})


def test_reindex_sends_the_text_too(entries):
    from django.core.management import call_command

    keyword_store(entries)
    vf = remote_stores.field(RemoteEntry)
    clients[vf.provider].delete_index(vf.index_name)
    call_command("vectra_reindex", "testapp.RemoteEntry", verbosity=0)
    assert [e.title for e in RemoteEntry.objects.text_search("quokka")] == ["Quokka sightings"]


def test_a_text_changed_behind_the_orms_back_is_drift(entries):
    from io import StringIO

    from django.core.management import CommandError, call_command
    from django.db import connection

    keyword_store(entries)
    lions = RemoteEntry.objects.get(title="Lions")
    with connection.cursor() as cursor:  # no signal, no outbox entry: only --check sees it
        cursor.execute("UPDATE testapp_remoteentry SET body = 'moved' WHERE id = %s", [lions.pk])
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("vectra_reindex", "testapp.RemoteEntry", check=True, stdout=out)
    assert "0 missing, 1 stale" in out.getvalue()
    call_command("vectra_reindex", "testapp.RemoteEntry", verbosity=0)  # repaired
    stored = remote_stores.stored(RemoteEntry)[f"testapp_remoteentry_{lions.pk}"]
    assert stored.text == "Lions\nmoved"


def test_saving_only_a_text_field_syncs_the_text(entries):
    keyword_store(entries)
    lions = RemoteEntry.objects.get(title="Lions")
    lions.title = "Tigers"
    lions.save(update_fields=["title"])
    stored = remote_stores.stored(RemoteEntry)[f"testapp_remoteentry_{lions.pk}"]
    assert stored.text.startswith("Tigers\n")


def test_a_row_longer_than_a_record_carries_still_syncs_without_drift(entries):
    from io import StringIO

    from django.core.management import call_command

    body = "okapi " + " ".join(f"w{i:07d}" for i in range(120_000))  # 1.08 M characters
    long = RemoteEntry.objects.create(title="Long", body=body)
    stored = remote_stores.stored(RemoteEntry)[f"testapp_remoteentry_{long.pk}"]
    assert stored.text == carried(entries, f"Long\n{body}"[:MAX_RECORD_TEXT_LENGTH])
    if entries != "pinecone":
        assert [e.title for e in RemoteEntry.objects.text_search("okapi")] == ["Long"]
    out = StringIO()
    call_command("vectra_reindex", "testapp.RemoteEntry", check=True, stdout=out)
    assert "0 missing, 0 stale" in out.getvalue()
