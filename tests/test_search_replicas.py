"""In-place searches follow Django's read routing: ``db_for_read``, ``.using()`` and the
database an instance was read from, like any query, with a replica of the same data."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests.testapp.models import Document
from vectra_django import clients

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture(autouse=True)
def routed(settings):
    clients.reset()
    Document.objects.create(title="east", embedding=[1, 0, 0])
    Document.objects.create(title="north", embedding=[0, 1, 0])
    Document.objects.create(title="up", embedding=[0, 0, 1])
    settings.DATABASE_ROUTERS = ["tests.routers.ReplicaRouter"]
    yield
    clients.reset()


def searches(ctx):
    return [q["sql"] for q in ctx.captured_queries if "<=>" in q["sql"]]


def test_a_routed_search_runs_on_the_read_replica():
    with (
        CaptureQueriesContext(connections["replica"]) as replica,
        CaptureQueriesContext(connections["default"]) as primary,
    ):
        found = [d.title for d in Document.objects.vector_search([1, 0.1, 0], limit=2)]
    assert found == ["east", "north"]
    assert searches(replica) and not searches(primary)


def test_load_records_false_runs_on_the_read_replica():
    with CaptureQueriesContext(connections["replica"]) as replica:
        result = Document.objects.vector_search([0, 1, 0], limit=1, load_records=False)
    assert result.ids == [f"testapp_document_{Document.objects.get(title='north').pk}"]
    assert searches(replica)


def test_similar_runs_where_its_instance_was_read():
    east = Document.objects.get(title="east")
    assert east._state.db == "replica"
    with CaptureQueriesContext(connections["replica"]) as replica:
        similar = [d.title for d in east.similar(limit=1)]
    assert similar == ["north"] or similar == ["up"]
    assert searches(replica)


def test_using_picks_the_database_explicitly():
    with CaptureQueriesContext(connections["default"]) as primary:
        found = list(Document.objects.using("default").vector_search([0, 0, 1], limit=1))
    assert [d.title for d in found] == ["up"] and searches(primary)
    assert found[0]._state.db == "default"


def test_values_on_the_replica_keep_the_search_settings():
    with CaptureQueriesContext(connections["replica"]) as replica:
        titles = list(
            Document.objects.vector_search([1, 0, 0], limit=3).values_list("title", flat=True)
        )
    assert titles[0] == "east" and len(titles) == 3
    assert any("set_config" in q["sql"] for q in replica.captured_queries)


def test_keyword_and_hybrid_searches_run_on_the_read_replica():
    from tests.testapp.models import Entry

    Entry.objects.create(title="Road works", body="cones on the road")
    Entry.objects.create(title="Lions", body="cats")
    with (
        CaptureQueriesContext(connections["replica"]) as replica,
        CaptureQueriesContext(connections["default"]) as primary,
    ):
        keyword = [e.title for e in Entry.objects.text_search("road")]
        hybrid = [e.title for e in Entry.objects.hybrid_search("road", limit=2)]
    assert keyword == ["Road works"] and hybrid[0] == "Road works"
    fused = [q["sql"] for q in replica.captured_queries if "websearch_to_tsquery" in q["sql"]]
    assert len(fused) == 2
    assert not [q for q in primary.captured_queries if "websearch_to_tsquery" in q["sql"]]
