"""``manage.py vectra_reindex``: copy rows' vectors to their provider indexes, in batches."""

from __future__ import annotations

import contextlib
import functools
import gc
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Model

from ...client.validation import MAX_PAGE_SIZE, Batch
from ...db.fields import VectorField, pk_from_vector_id, vector_fields, vector_id
from ...db.reindex import stack_vectors, values_rows
from ...errors import NotFoundError, UnsupportedFeatureError, VectraError


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def write_batch(
    client: Any, index: str, namespace: str, batch: Batch | None, missing: list[str]
) -> None:
    """One batch's writes: its checked vectors upserted, the entries of its NULL vectors
    deleted."""
    if batch is not None:
        client._upsert_checked(index, batch, namespace)
    if missing:
        client.delete(index, ids=missing, namespace=namespace)


@contextlib.contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Pause Python's cycle collector for a bulk copy.

    The copy allocates rows, dicts and bytes that reference counting frees batch by batch,
    but their number sets off full collections that walk the whole process heap, which in a
    large process costs more than the batch itself. The collector's state is restored after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def in_transaction() -> bool:
    """Whether this thread is inside ``atomic()`` on any database it has used."""
    return any(c.in_atomic_block for c in connections.all(initialized_only=True))


class Writer:
    """Runs each batch's writes on ``workers`` threads while this thread reads on.

    At most ``workers`` batches are in flight: a submit past that waits for a free thread.
    The first failed write is raised at the next submit or at ``close``, and the batches
    queued after it are skipped. With no workers (inside a transaction, whose rows other
    connections could not see and whose store writes must join it) each write runs at
    once, on this thread.
    """

    def __init__(self, workers: int) -> None:
        self._slots = threading.Semaphore(workers)
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"vectra-reindex-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        try:
            while (task := self._queue.get()) is not None:
                try:
                    if self._error is None:
                        task()
                except BaseException as exc:
                    with self._lock:
                        if self._error is None:
                            self._error = exc
                finally:
                    self._slots.release()
        finally:
            connections.close_all()  # the connections this thread opened

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        if not self._threads:
            fn(*args, **kwargs)
            return
        self._raise_failure()
        self._slots.acquire()
        self._raise_failure()
        self._queue.put(functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for the queued writes and stop the threads; raise the first failure."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._raise_failure()


class Command(BaseCommand):
    help = "Rebuild or update the provider indexes of models with vector fields."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "args",
            nargs="*",
            metavar="app_label[.ModelName]",
            help="Models to reindex (default: every model with a vector field).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows read and vectors written per batch (default 500).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="Threads writing batches while the next ones are read (default 2; 0 writes "
            "each batch before reading on). Stores that cannot take concurrent writes get one.",
        )
        parser.add_argument(
            "--clear",
            action="store_true",
            help="Delete everything in each index namespace before reindexing.",
        )
        parser.add_argument(
            "--remove",
            action="store_true",
            help="Also delete index entries whose rows are gone or have no vector.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing."
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation before --clear.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='Database to read the rows from (default "default").',
        )

    def handle(self, *labels: str, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        self.options = options
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be a positive integer.")
        if options["workers"] < 0:
            raise CommandError("--workers must be 0 or more.")
        targets = [(m, f) for m in self.models(labels) for f in vector_fields(m)]
        if self.verbosity >= 1:
            heading = (
                "Reindexing vectors (dry run):" if options["dry_run"] else "Reindexing vectors:"
            )
            self.stdout.write(self.style.MIGRATE_HEADING(heading))
        for model, vf in targets:
            name = f"{model._meta.label}.{vf.name}"
            if vf.is_inline(options["database"]):
                if self.verbosity >= 1:
                    self.stdout.write(
                        f"  {name}: "
                        + self.style.NOTICE("searched in place; the column is the index.")
                    )
                continue
            try:
                self.reindex(name, model, vf)
            except (VectraError, DatabaseError) as exc:
                raise CommandError(
                    f"Reindexing {name} into {vf.index_name!r} (VECTRA alias {vf.provider!r}) "
                    f"failed: {type(exc).__name__}: {exc}. Fix the store, database or settings "
                    "and run the command again; it resumes safely (rows already written stay "
                    "written, upserts are idempotent)."
                ) from exc

    def models(self, labels: tuple[str, ...]) -> list[type[Model]]:
        if not labels:
            return [m for m in apps.get_models() if vector_fields(m) and not m._meta.proxy]
        found: list[type[Model]] = []
        for label in labels:
            try:
                if "." in label:
                    candidates = [apps.get_model(label)]
                else:
                    candidates = list(apps.get_app_config(label).get_models())
            except (LookupError, ValueError) as exc:
                raise CommandError(
                    f"Unknown model or app {label!r}. Use app_label.ModelName or app_label."
                ) from exc
            with_vectors = [m for m in candidates if vector_fields(m) and not m._meta.proxy]
            if not with_vectors:
                raise CommandError(f"{label!r} has no model with a VectorField.")
            found += [m for m in with_vectors if m not in found]
        return found

    # -- one field ----------------------------------------------------------------------------

    def reindex(self, name: str, model: type[Model], vf: VectorField) -> None:
        options = self.options
        client = vf.client()
        index, namespace, dry_run = vf.index_name, vf.namespace, options["dry_run"]
        where = f"{index!r}" + (f" namespace {namespace!r}" if namespace else "")
        if self.verbosity >= 1:
            self.stdout.write(f"  {name} -> {vf.provider}:{where}")
        exists = client.index_exists(index)
        if exists:
            dimension = int(client.describe_index(index)["dimension"])
            if dimension != vf.dimensions:
                raise CommandError(
                    f"Index {index!r} has dimension {dimension} but {name} has {vf.dimensions}. "
                    "Point the field at another index=, or delete that index first."
                )
        if options["clear"] and exists:
            if options["interactive"] and not dry_run and not self.confirm_clear(where):
                self.stdout.write("    Reindex cancelled.")
                return
            if not dry_run:
                client.delete(index, delete_all=True, namespace=namespace)
            self.detail(f"    cleared {where}")
        if not exists and not dry_run:
            client.create_index(index, dimension=vf.dimensions, metric=vf.metric)
            self.detail(f"    created index {index!r} ({vf.dimensions} dimensions, {vf.metric})")
        start = time.monotonic()
        with without_cyclic_gc():
            upserted, deleted = self.copy_rows(model, vf, client, exists and not options["clear"])
        removed = 0
        if options["remove"] and exists and not options["clear"]:
            removed = self.remove_stale(model, vf, client)
        if self.verbosity >= 1:
            verb = "would upsert" if dry_run else "upserted"
            summary = f"    {verb} {upserted}, deleted {deleted + removed}"
            if self.verbosity >= 2:
                summary += f" ({time.monotonic() - start:.1f}s)"
            self.stdout.write(summary + self.style.SUCCESS(" OK"))

    def confirm_clear(self, where: str) -> bool:
        answer = input(
            f"This deletes every vector in {where} before reindexing.\n"
            "Type 'yes' to continue, or 'no' to cancel: "
        )
        return answer.strip().lower() == "yes"

    def copy_rows(
        self, model: type[Model], vf: VectorField, client: Any, delete_nulls: bool
    ) -> tuple[int, int]:
        """Upsert every row with a vector, in keyset batches (``pk > last``, never OFFSET).

        Rows are read as values, with vectors in binary (:mod:`vectra_django.bulkread`),
        and each batch goes to the provider as one float32 matrix, written while the next
        batch is read (see :class:`Writer`).
        """
        batch_size, dry_run = self.options["batch_size"], self.options["dry_run"]
        index, namespace = vf.index_name, client._namespace(vf.namespace)
        columns = [
            "pk",
            vf.attname,
            *(model._meta.get_field(n).attname for n in vf.metadata_fields),
        ]
        base = model._base_manager.using(self.options["database"]).order_by("pk")
        progress = self.progress(base.count())
        upserted = deleted = 0
        last = None
        workers = 0 if dry_run or in_transaction() else self.options["workers"]
        if not getattr(client.provider, "concurrent_writes", False):  # a custom provider: one
            workers = min(workers, 1)
        writer = Writer(workers)
        try:
            while True:
                page = base if last is None else base.filter(pk__gt=last)
                rows = values_rows(page[:batch_size], *columns, raw_vectors=True)
                if not rows:
                    break
                last = rows[-1][0]
                present = [row for row in rows if row[1] is not None]
                missing = [vector_id(vf.model, row[0]) for row in rows if row[1] is None]
                if not delete_nulls:
                    missing = []
                if (present or missing) and not dry_run:
                    batch = None
                    if present:  # checked here, while the worker writes the previous batch
                        batch = client._checked_batch(
                            index,
                            ids=[vector_id(vf.model, row[0]) for row in present],
                            values=stack_vectors([row[1] for row in present]),
                            metadata=[vf.metadata_from(row[2:]) for row in present],
                        )
                    writer.submit(write_batch, client, index, namespace, batch, missing)
                upserted += len(present)
                deleted += len(missing)
                progress(len(rows))
        finally:
            try:
                writer.close()
            finally:
                progress(None)
        return upserted, deleted

    def remove_stale(self, model: type[Model], vf: VectorField, client: Any) -> int:
        """Delete entries of this model whose row is gone or has no vector, page by page.

        Only ids with the model's ``<db_table>_`` prefix are listed, and each page's stale
        ids are deleted before the next page is read (the listing allows it).
        """
        batch_size = self.options["batch_size"]
        removed = 0
        try:
            ids = client.list_ids(
                vf.index_name,
                prefix=vector_id(vf.model, ""),
                namespace=vf.namespace,
                page_size=min(batch_size, MAX_PAGE_SIZE),
            )
            for page in _batches(ids, batch_size):
                stale = self.stale_ids(model, vf, page)
                if stale and not self.options["dry_run"]:
                    client.delete(vf.index_name, ids=stale, namespace=vf.namespace)
                removed += len(stale)
                self.detail(f"    {len(stale)} stale id(s) in a page of {len(page)}")
        except UnsupportedFeatureError as exc:
            raise CommandError(
                f"--remove needs a provider that can list ids; {client.provider_name!r} "
                "cannot. Run with --clear instead to rebuild the index from the table."
            ) from exc
        except NotFoundError:
            pass  # the index went away meanwhile: nothing left to remove
        return removed

    def stale_ids(self, model: type[Model], vf: VectorField, page: list[str]) -> list[str]:
        """The ids of ``page`` whose row is gone or has no vector."""
        pks = {vid: pk_from_vector_id(vf.model, vid) for vid in page}
        pks = {vid: pk for vid, pk in pks.items() if pk is not None}
        alive = set(
            model._base_manager.using(self.options["database"])
            .filter(pk__in=list(pks.values()), **{f"{vf.name}__isnull": False})
            .values_list("pk", flat=True)
        )
        return [vid for vid, pk in pks.items() if pk not in alive]

    # -- output -------------------------------------------------------------------------------

    def detail(self, message: str) -> None:
        if self.verbosity >= 2:
            self.stdout.write(message)

    def progress(self, total: int) -> Any:
        """A callable taking a row count (``None`` closes): a bar on a terminal, else lines."""
        bar = None
        if self.verbosity >= 1 and self.stdout.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                bar = tqdm(total=total, unit="row", leave=False, file=self.stdout._out)
        done = 0

        def update(n: int | None) -> None:
            nonlocal done
            if n is None:
                if bar is not None:
                    bar.close()
                return
            done += n
            if bar is not None:
                bar.update(n)
            elif self.verbosity >= 2:
                self.stdout.write(f"    {done}/{total} rows")

        return update
