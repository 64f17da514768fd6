"""PostgreSQL with pgvector: one table per index, in your own database or any other.

Two connection sources: ``URL`` (a lazily opened ``psycopg_pool.ConnectionPool``) or
``DATABASE`` (the connection of a Django ``DATABASES`` alias, so vector writes join the
caller's transaction). Each operation runs in one transaction (a savepoint when the caller
already has one) with its ``SET LOCAL`` settings, and every psycopg error is mapped onto
:mod:`vectra_django.errors` by :func:`.errors.map_errors`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ... import errors
from ...client import filters
from ...client.distance import Metric
from ...client.requests import IdPage, QueryRequest
from ...client.results import QueryResult, Vector
from ...client.validation import Batch
from ...errors import ConfigurationError, NotFoundError, ValidationError
from ...postgres import builds, pgvector_version, require_pgvector
from ..base import BaseProvider, stats_result
from . import nearest, reads
from . import sql as queries
from .connection import DjangoSource, PoolSource, Tx, register
from .errors import map_errors
from .loads import BulkLoads
from .sql import Table
from .text import TextSearch
from .writes import NUL_ESCAPE, check_jsonb, write

_DEFAULTS: dict[str, Any] = {
    "url": None,
    "database": None,
    "schema": "public",
    "pool_size": 10,
    "pool_timeout": 30.0,
    "timeout": None,
    "index_type": "hnsw",
    "m": 16,
    "ef_construction": 64,
    "lists": 100,
    "halfvec": False,
    "text_config": "english",
    "build": None,
}


class PgvectorProvider(BulkLoads, TextSearch, BaseProvider):
    """Vector search in PostgreSQL tables, with HNSW (or IVFFlat) indexes and jsonb metadata."""

    name: ClassVar[str] = "pgvector"
    default_batch_size: ClassVar[int] = 5000

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(_DEFAULTS)
        if unknown:
            raise ConfigurationError(
                f"Unknown pgvector settings {sorted(unknown)}; expected {sorted(_DEFAULTS)}."
            )
        config = {**_DEFAULTS, **options}
        if (config["url"] is None) == (config["database"] is None):
            raise ConfigurationError("The pgvector provider needs exactly one of URL or DATABASE.")
        self.schema: str = config["schema"]
        self.timeout: float | None = None if config["timeout"] is None else float(config["timeout"])
        try:
            self._index_defaults = queries.index_options(
                {}, {k: config[k] for k in queries.INDEX_OPTIONS if k in config}
            )
        except ValidationError as exc:
            raise ConfigurationError(str(exc)) from None
        self._build = builds.BuildSettings.from_setting(config["build"])
        # Our own pooled sessions get the settings most reads need (see reads.py).
        session = {
            "hnsw.iterative_scan": "relaxed_order",
            "ivfflat.iterative_scan": "relaxed_order",
            "plan_cache_mode": "force_custom_plan",
        }
        if self.timeout is not None:
            session["statement_timeout"] = self._timeout_ms()
        self._source: PoolSource | DjangoSource = (
            DjangoSource(config["database"])
            if config["url"] is None
            else PoolSource(config["url"], config["pool_size"], config["pool_timeout"], session)
        )
        # Registry rows by index name; dropped whenever the index turns out to be missing.
        self._tables: dict[str, Table] = {}
        # (index, namespace) whose last bulk upsert replaced stored ids (see upsert).
        self._replacing: dict[tuple[str, str], bool] = {}

    def __repr__(self) -> str:
        return f"<PgvectorProvider {self._source.target} schema={self.schema!r}>"

    @contextlib.contextmanager
    def _session(self, index: str | None = None) -> Iterator[Tx]:
        """One transaction (a savepoint if the caller has one), with errors mapped."""
        nested = self._source.in_transaction()
        try:
            with (
                map_errors(index, in_transaction=nested, secret=self._source.secret),
                self._source.transaction() as conn,
            ):
                tx = Tx(conn, nested)
                if self.timeout is not None:
                    tx.configure({"statement_timeout": self._timeout_ms()})
                yield tx
                tx.restore()
        except NotFoundError:
            if index is not None:
                self._tables.pop(index, None)
            raise

    @contextlib.contextmanager
    def _reading(self, index: str) -> Iterator[psycopg.Connection[Any]]:
        """A connection outside any transaction, with errors mapped (see reads.py)."""
        try:
            with map_errors(index, secret=self._source.secret), self._source.connection() as conn:
                yield conn
        except NotFoundError:
            self._tables.pop(index, None)
            raise

    def _timeout_ms(self) -> str:
        return str(max(1, round((self.timeout or 0) * 1000)))

    def on_retry(self, exc: BaseException) -> None:
        """Called by the client before a retry: lets a broken connection be replaced."""
        self._source.on_retry(exc)

    def close(self) -> None:
        self._source.close()

    def healthy(self) -> bool:
        try:
            with self._session() as tx:
                tx.execute("SELECT 1")
        except errors.VectraError:
            return False
        return True

    # -- indexes ---------------------------------------------------------------------------

    def _table(self, tx: Tx, name: str) -> Table:
        cached = self._tables.get(name)
        if cached is not None:
            return cached
        row = tx.execute(
            sql.SQL(
                "SELECT table_name, dimension, metric, index_type, options FROM {} WHERE name = %s"
            ).format(queries.registry_ident(self.schema)),
            [name],
        ).fetchone()
        if row is None:
            raise NotFoundError(f"Index {name!r} does not exist.")
        table = Table(name, self.schema, row[0], row[1], row[2], row[3], row[4])
        self._tables[name] = table
        return table

    def create_index(
        self, name: str, dimension: int, metric: Metric, options: Mapping[str, Any]
    ) -> None:
        opts = queries.index_options(options, self._index_defaults)
        self._tables.pop(name, None)
        with self._session() as tx:
            # Serialise concurrent creators: CREATE EXTENSION and IF NOT EXISTS can race.
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('vectra_django.create_index'))")
            tx.execute("CREATE EXTENSION IF NOT EXISTS vector")
            if self.schema != "public":
                tx.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
            queries.check_index(dimension, metric, opts)
            version = pgvector_version(tx.conn)
            if opts["halfvec"]:
                require_pgvector(version, "halfvec")
            if opts["quantization"]:
                require_pgvector(version, "binary_quantize")
            tx.execute(queries.create_registry(self.schema))
            try:
                existing = self._table(tx, name)
            except NotFoundError:
                existing = None
            if existing is not None:
                if (existing.dimension, existing.metric) != (dimension, metric):
                    raise ValidationError(
                        f"Index {name!r} already exists with dimension {existing.dimension} "
                        f"and metric {existing.metric!r}."
                    )
                return
            table = Table(
                name,
                self.schema,
                queries.table_name(name),
                dimension,
                metric,
                opts["index_type"],
                opts,
            )
            tx.execute(
                sql.SQL(
                    "INSERT INTO {} (name, table_name, dimension, metric, index_type, options) "
                    "VALUES (%s, %s, %s, %s, %s, %s)"
                ).format(queries.registry_ident(self.schema)),
                [name, table.table, dimension, metric, table.index_type, Jsonb(opts)],
            )
            for statement in queries.create_table(table):
                tx.execute(statement)

    def delete_index(self, name: str) -> None:
        with self._session(name) as tx:
            table = self._table(tx, name)
            tx.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table.ident))
            tx.execute(
                sql.SQL("DELETE FROM {} WHERE name = %s").format(
                    queries.registry_ident(self.schema)
                ),
                [name],
            )
        self._tables.pop(name, None)

    def list_indexes(self) -> list[str]:
        with self._session() as tx:
            exists = tx.execute(
                "SELECT to_regclass(%s) IS NOT NULL",
                [sql.Identifier(self.schema, queries.REGISTRY).as_string(tx.conn)],
            ).fetchone()
            if not (exists and exists[0]):
                return []
            rows = tx.execute(
                sql.SQL("SELECT name FROM {} ORDER BY name").format(
                    queries.registry_ident(self.schema)
                )
            ).fetchall()
        return [row[0] for row in rows]

    def describe_index(self, name: str) -> dict[str, Any]:
        self._tables.pop(name, None)  # describe always reads the registry afresh
        with self._session(name) as tx:
            return self._table(tx, name).describe()

    def stats(self, name: str) -> dict[str, Any]:
        with self._session(name) as tx:
            table = self._table(tx, name)
            rows = tx.execute(
                sql.SQL("SELECT namespace, count(*) FROM {} GROUP BY namespace").format(table.ident)
            ).fetchall()
        return stats_result(dict(rows), table.dimension, metric=table.metric)

    # -- vectors ---------------------------------------------------------------------------

    def validate_batch(self, batch: Batch) -> None:
        """jsonb cannot store the NUL character: refuse it before any chunk is written."""
        encoded = batch.metadata_json
        if encoded is not None and not any(NUL_ESCAPE in meta for meta in encoded):
            return  # the common case, decided on the JSON validation already made
        for vid, meta in zip(batch.ids, batch.metadata, strict=True):
            check_jsonb(vid, meta)

    def upsert(self, index: str, batch: Batch, namespace: str) -> int:
        with self._session(index) as tx:
            table = self._with_text(tx, self._table(tx, index), batch)
            return write(tx, table, batch, namespace, self._replacing)

    def query(self, index: str, request: QueryRequest) -> QueryResult:
        table, rows = self._select(index, lambda table: nearest.query(table, request))
        return nearest.result(table, request, rows, index)

    def _select(self, index: str, build: Any) -> tuple[Table, list[Any]]:
        """The table of ``index`` and the rows of the read ``build(table)`` gives as
        ``(settings, statement, params)`` (``None``: nothing to read)."""
        if self._source.in_transaction():  # inside the caller's: a savepoint, SET LOCAL
            with self._session(index) as tx:
                table = self._table(tx, index)
                register(tx.conn)
                read = build(table)
                if read is None:
                    return table, []
                settings, statement, params = read
                tx.configure(settings)
                return table, tx.execute(statement, params).fetchall()
        with self._reading(index) as conn:  # one round trip (reads.py)
            table = self._table(Tx(conn, nested=False), index)
            register(conn)
            read = build(table)
            return table, [] if read is None else reads.select(conn, *read)

    def fetch(self, index: str, ids: list[str], namespace: str) -> dict[str, Vector]:
        with self._session(index) as tx:
            table = self._table(tx, index)
            register(tx.conn)
            text = sql.SQL(", text" if table.text_config else ", NULL")
            rows = tx.execute(
                sql.SQL(
                    "SELECT id, embedding, metadata{} FROM {} WHERE namespace = %s AND id = ANY(%s)"
                ).format(text, table.ident),
                [namespace, ids],
            ).fetchall()
        found = {
            vid: Vector(vid, nearest.to_list(emb), meta, namespace, text)
            for vid, emb, meta, text in rows
        }
        return {vid: found[vid] for vid in ids if vid in found}

    def update(
        self,
        index: str,
        id: str,
        namespace: str,
        values: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if metadata is not None:
            check_jsonb(id, metadata)
        assignments: list[sql.Composable] = []
        params: list[Any] = []
        with self._session(index) as tx:
            table = self._table(tx, index)
            if values is not None:
                register(tx.conn)
                assignments.append(sql.SQL("embedding = {}").format(table.param))
                params.append(values)
            if metadata is not None:
                assignments.append(sql.SQL("metadata = metadata || %s::jsonb"))
                params.append(Jsonb(metadata))
            cur = tx.execute(
                sql.SQL("UPDATE {} SET {} WHERE namespace = %s AND id = %s").format(
                    table.ident, sql.SQL(", ").join(assignments)
                ),
                [*params, namespace, id],
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"Vector {id!r} does not exist in index {index!r}.")

    def delete(
        self,
        index: str,
        namespace: str,
        ids: list[str] | None = None,
        filter: filters.Node | None = None,
        delete_all: bool = False,
    ) -> int:
        with self._session(index) as tx:
            table = self._table(tx, index)
            if delete_all:
                where, params = queries.namespace_where(namespace, None)
            elif ids is not None:
                where, params = "namespace = %s AND id = ANY(%s)", [namespace, ids]
            else:
                where, params = queries.namespace_where(namespace, filter)
            statement = sql.SQL("DELETE FROM {} WHERE {}").format(table.ident, sql.SQL(where))
            cur = tx.execute(statement, params)
            return cur.rowcount

    def list_ids(
        self,
        index: str,
        namespace: str,
        prefix: str = "",
        limit: int = 1000,
        cursor: str | None = None,
    ) -> IdPage:
        """Keyset pages over the primary key; the cursor is the last id returned."""
        where: list[sql.Composable] = [sql.SQL("namespace = %s")]
        params: list[Any] = [namespace]
        if cursor is not None:
            where.append(sql.SQL("id > %s"))
            params.append(cursor)
        if prefix:
            where.append(sql.SQL("starts_with(id, %s)"))
            params.append(prefix)
        with self._session(index) as tx:
            table = self._table(tx, index)
            rows = tx.execute(
                sql.SQL("SELECT id FROM {} WHERE {} ORDER BY id LIMIT %s").format(
                    table.ident, sql.SQL(" AND ").join(where)
                ),
                [*params, limit + 1],
            ).fetchall()
        return IdPage.after_last([row[0] for row in rows], limit)

    def execute(self, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement on this provider's connection, in its own transaction.

        For maintenance and tests; the statement gets the same timeout and error mapping as
        every operation.
        """
        with self._session() as tx:
            cur = tx.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []
