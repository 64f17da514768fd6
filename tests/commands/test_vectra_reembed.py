"""vectra_reembed: estimates, resumable batches, a shadow switch searches never see half done,
and the record of which embedder made a field's vectors (system check E030)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from tests.testapp.embedders import ReweightedEmbedder, counting
from tests.testapp.models import Entry, ManualDocument, RemoteEntry
from vectra_django.db.embeddings import check_embedders, forget_recorded
from vectra_django.embedders import embedder_identity, source_text
from vectra_django.models import EmbeddingRecord

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
NEW = "tests.testapp.embedders.ReweightedEmbedder"
FIELD = "testapp.Entry.embedding"
TEXTS = [
    ("Quokka sightings", "A rare marsupial."),
    ("Road works", "Cones on the main road."),
    ("Zebra crossing", "Stripes near the school."),
    ("Lions", "Big cats hunt at night."),
    ("Night markets", "Food stalls by the river."),
    ("Savanna", "Grasslands feed the herds."),
    ("Untitled", ""),
]


@pytest.fixture(autouse=True)
def fresh_records():
    forget_recorded()
    yield
    forget_recorded()


@pytest.fixture
def entries() -> list[Entry]:
    return [Entry.objects.create(title=t, body=b) for t, b in TEXTS]


def reembed(*args: str) -> str:
    out = StringIO()
    call_command("vectra_reembed", *args, stdout=out)
    return out.getvalue()


def stored() -> dict[int, np.ndarray]:
    return {pk: np.asarray(v) for pk, v in Entry.objects.values_list("pk", "embedding")}


def made_by(embedder) -> dict[int, np.ndarray]:
    rows = Entry.objects.order_by("pk")
    return {e.pk: embedder.embed([source_text(e, ("title", "body"))])[0] for e in rows}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_the_first_embedding_records_the_embedder(entries):
    record = EmbeddingRecord.objects.get(model="testapp.Entry", field="embedding")
    assert record.embedder == embedder_identity(counting) and record.dimension == 8


def test_dry_run_prints_the_estimate_and_changes_nothing(entries):
    before = stored()
    output = reembed(FIELD, "--embedder", NEW, "--dry-run")
    characters = sum(len(t) + len(b) for t, b in TEXTS)
    assert f"7 rows, {characters} characters, about {-(-characters // 4)} tokens" in output
    assert "Dry run: nothing was changed." in output
    assert same(stored(), before)
    assert EmbeddingRecord.objects.get().embedder == embedder_identity(counting)


def test_a_new_embedder_rewrites_every_vector_and_the_record(entries):
    output = reembed(FIELD, "--embedder", NEW, "--batch-size", "3")
    assert "Re-embedded 7 rows." in output
    assert same(stored(), made_by(ReweightedEmbedder()))
    record = EmbeddingRecord.objects.get()
    assert record.embedder == embedder_identity(ReweightedEmbedder())
    assert (record.target, record.cursor) == ("", "")
    # The field is still configured with the old embedder: the check says so, loudly.
    errors = check_embedders(databases=["default"])
    assert [e.id for e in errors] == ["vectra_django.E030"]
    assert "vectra_reembed testapp.Entry.embedding" in errors[0].hint


def test_the_same_embedder_again_is_nothing_to_do(entries):
    assert "nothing to do" in reembed(FIELD)
    assert check_embedders(databases=["default"]) == []


def test_a_killed_reembed_resumes_where_it_stopped_and_finishes(entries):
    env = {**os.environ, "VECTRA_CHILD_DB": json.dumps(connection.settings_dict, default=str)}
    child = subprocess.run(
        [sys.executable, "-m", "tests.reembed_child", FIELD, "--embedder",
         "tests.testapp.embedders.DyingEmbedder", "--batch-size", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr  # killed at its third batch
    record = EmbeddingRecord.objects.get()
    assert record.target == embedder_identity(ReweightedEmbedder())
    assert int(record.cursor) == entries[3].pk  # two batches of two committed
    assert [w.id for w in check_embedders(databases=["default"])] == ["vectra_django.W031"]
    output = reembed(FIELD, "--embedder", NEW, "--batch-size", "2")
    assert f"Resuming after primary key {entries[3].pk}" in output
    assert "Re-embedded 3 rows." in output
    assert same(stored(), made_by(ReweightedEmbedder()))
    assert EmbeddingRecord.objects.get().target == ""


def test_a_shadow_reembed_is_never_seen_half_done(entries):
    old, new = stored(), made_by(ReweightedEmbedder())
    seen: list[str] = []
    done = threading.Event()

    def search() -> None:
        try:
            while not done.is_set():
                now = stored()
                seen.append("old" if same(now, old) else "new" if same(now, new) else "mixed")
        finally:
            connections.close_all()

    watcher = threading.Thread(target=search)
    watcher.start()
    try:
        output = reembed(
            FIELD, "--embedder", NEW, "--shadow", "--batch-size", "1", "--pause", "0.02"
        )
    finally:
        done.set()
        watcher.join()
    assert "Re-embedded 7 rows" in output
    assert "mixed" not in seen and "old" in seen
    assert same(stored(), new)


def test_a_shadow_switch_keeps_the_columns_indexes_and_catches_late_writes(entries):
    late = Entry.objects.get(title="Lions")

    class Writer(ReweightedEmbedder):
        def embed(self, texts):  # a write lands while the shadow fills
            if self.calls == 2:  # Lions' shadow came with the second batch
                Entry.objects.filter(pk=late.pk).update(body="Now about quokkas.")
            return super().embed(texts)

    from vectra_django.db import reembed as module

    plan = module.plan(Entry._meta.get_field("embedding"), "default", Writer())
    from vectra_django.db import shadow

    shadow.prepare(plan)
    module.run(plan, 2, lambda n: None, write=shadow.write, finish=False)

    def embed(pks):
        rows = list(module.source_rows(plan).filter(pk__in=pks).order_by("pk"))
        shadow.write(plan, rows, module.embed_rows(plan, rows))

    assert shadow.catch_up(plan, embed, 2) >= 1  # the late write is embedded again
    shadow.switch(plan, embed, 2, lambda: module.finish_record(plan))
    assert same(stored(), made_by(ReweightedEmbedder()))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'testapp_entry' ORDER BY 1"
        )
        names = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'testapp_entry'"
        )
        columns = {row[0] for row in cursor.fetchall()}
    assert "entry_embedding_hnsw" in names and not [n for n in names if "reembed" in n]
    assert "embedding" in columns and not [c for c in columns if "reembed" in c]
    found = Entry.objects.vector_search(made_by(ReweightedEmbedder())[late.pk], limit=1)
    assert [e.pk for e in found] == [late.pk]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["testapp.Nope.embedding"], "Unknown model"),
        (["testapp.Entry.nope"], "has no VectorField 'nope'"),
        (["testapp.Entry"], "app_label.ModelName.field"),
        (["testapp.ManualDocument.embedding"], "has no source="),
        ([FIELD, "--embedder", "tests.testapp.embedders.WideEmbedder"], "produces 16 dimensions"),
        (["testapp.RemoteEntry.embedding", "--shadow"], "synced to a store"),
        ([FIELD, "--batch-size", "0"], "--batch-size"),
        ([FIELD, "--embedder", "no.such.Embedder"], "Cannot import"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(entries, args, message):
    before = stored()
    with pytest.raises(CommandError, match=message):
        reembed(*args)
    assert same(stored(), before)
    assert EmbeddingRecord.objects.get().target == ""
    assert not ManualDocument.objects.exists() and not RemoteEntry.objects.exists()


def test_a_synced_field_is_re_embedded_and_its_store_follows(settings):
    from tests import remote_stores
    from vectra_django import clients

    settings.VECTRA_SYNC = "immediate"
    clients.reset()
    rows = [RemoteEntry.objects.create(title=t, body=b) for t, b in TEXTS[:3]]
    reembed("testapp.RemoteEntry.embedding", "--embedder", NEW)
    new = ReweightedEmbedder()
    in_store = remote_stores.stored(RemoteEntry)
    for row in rows:
        expected = new.embed([source_text(row, ("title", "body"))])[0]
        assert np.allclose(in_store[f"testapp_remoteentry_{row.pk}"].values, expected, atol=1e-6)
    clients.reset()
