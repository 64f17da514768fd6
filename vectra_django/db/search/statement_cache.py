"""Compiled in-place searches, kept per connection and reused with each new query vector.

Building and compiling a queryset costs Django a few tenths of a millisecond, as much as an
HNSW search itself on a warm index. A search on the model's plain queryset,
``Model.objects.vector_search(vec, limit=n, filter=..., score_threshold=...)``, compiles
to the same SQL whenever its shape repeats (model, field, ``limit``, the filter and
threshold values, whether vectors are loaded): only the vector differs. So the compiled
form is kept, and later searches bind their vector and build instances from the rows the
way Django's ``ModelIterable`` does; ``similar()`` binds the row it leaves out too.
Searches on a filtered or otherwise narrowed queryset, and result querysets that are
chained further, compile as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Model
from django.db.models.query import ModelIterable
from django.db.models.sql import Query

MAX_STATEMENTS = 256  # per connection; a new key past this evicts the oldest
_templates: dict[type[Model], dict[str, Any]] = {}


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled search: its SQL and parameters, where the query vector goes in them,
    and what ``ModelIterable`` would read off the compiler to build instances."""

    model: type[Model]
    sql: str
    params: tuple[Any, ...]
    slots: tuple[int, ...]
    excluded_slot: int | None
    text_slots: tuple[int, ...]
    compiler: Any
    converters: dict[int, Any]
    init_list: tuple[str, ...]
    fields: slice
    annotations: tuple[tuple[str, int], ...]

    @classmethod
    def compile(
        cls, queryset: Any, vector: Any, excluded: Any = None, text: str | None = None
    ) -> Statement | None:
        """``queryset`` compiled, with ``vector`` the value of its query-vector parameters,
        ``excluded`` (a database value, or ``None``) that of the primary key it leaves out
        and ``text`` (a string object no one else holds) that of its search text. ``None``
        when one cannot be found among the parameters: nothing to reuse."""
        compiler = queryset.query.get_compiler(using=queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # a filter no row can pass: Django answers without a query
            return None
        slots = tuple(i for i, p in enumerate(params) if vector is not None and p is vector)
        text_slots = tuple(i for i, p in enumerate(params) if text is not None and p is text)
        excluded_slot = None
        if excluded is not None:
            found = [i for i, p in enumerate(params) if type(p) is type(excluded) and p == excluded]
            excluded_slot = found[0] if len(found) == 1 else None
        if (vector is not None and not slots) or (text is not None and not text_slots):
            return None
        if excluded is not None and excluded_slot is None:
            return None
        select = compiler.select
        klass_info = compiler.klass_info  # None for values() querysets
        positions = klass_info["select_fields"] if klass_info else [0]
        fields = slice(positions[0], positions[-1] + 1)
        return cls(
            model=queryset.model,
            sql=sql,
            params=tuple(params),
            slots=slots,
            excluded_slot=excluded_slot,
            text_slots=text_slots,
            compiler=compiler,
            converters=compiler.get_converters([s[0] for s in select[: compiler.col_count]]),
            init_list=tuple(s[0].target.attname for s in select[fields]) if klass_info else (),
            fields=fields,
            annotations=tuple(compiler.annotation_col_map.items()),
        )

    def rows(
        self, using: str, vector: Any, excluded: Any = None, text: str | None = None
    ) -> list[Any]:
        """The result rows for ``vector`` (the primary key ``excluded``, a database value,
        and the search ``text``), through the columns' converters."""
        params = list(self.params)
        for slot in self.slots:
            params[slot] = vector
        for slot in self.text_slots:
            params[slot] = text
        if self.excluded_slot is not None:
            params[self.excluded_slot] = excluded
        with connections[using].cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            rows = list(self.compiler.apply_converters(rows, self.converters))
        return rows

    def instances(
        self, using: str, vector: Any, excluded: Any = None, text: str | None = None
    ) -> list[Model]:
        """Model instances for ``vector`` (and ``text``), with the annotations set, in the
        rows' order."""
        from_db, init_list, fields = self.model.from_db, self.init_list, self.fields
        objs = []
        for row in self.rows(using, vector, excluded, text):
            obj = from_db(using, init_list, row[fields])
            for name, position in self.annotations:
                setattr(obj, name, row[position])
            objs.append(obj)
        return objs


def _kept(using: str) -> dict[tuple[Any, ...], Statement]:
    """This thread's statements for ``using``, kept on its connection wrapper.

    On the wrapper, not in a mapping keyed by it: a statement's compiler and converters
    refer back to the connection, so they go away with it (a thread's end, say).
    """
    connection = connections[using]
    try:
        return connection._vectra_statements  # type: ignore[no-any-return]
    except AttributeError:
        connection._vectra_statements = {}
        return connection._vectra_statements  # type: ignore[no-any-return]


def lookup(using: str, key: tuple[Any, ...]) -> Statement | None:
    """The statement compiled for ``key`` on this thread's connection ``using``, if any."""
    return _kept(using).get(key)


def compiled(
    using: str,
    key: tuple[Any, ...],
    build: Any,
    vector: Any,
    excluded: Any = None,
    text: str | None = None,
) -> Statement | None:
    """The statement for ``key``, compiled from ``build()`` and kept if it is new."""
    statements = _kept(using)
    if key in statements:
        return statements[key]
    statement = Statement.compile(build(), vector, excluded, text)
    if statement is not None:
        if len(statements) >= MAX_STATEMENTS:
            del statements[next(iter(statements))]
        statements[key] = statement
    return statement


def is_plain(queryset: Any) -> bool:
    """Whether ``queryset`` selects its model's rows exactly as a fresh manager queryset
    does (no filters, annotations, joins, deferrals, values() or prefetching): then a
    search on it compiles to the same SQL as on any other plain queryset of the model."""
    if (
        queryset._iterable_class is not ModelIterable
        or queryset._fields is not None
        or queryset._prefetch_related_lookups
        or queryset._known_related_objects
        or queryset._deferred_filter is not None
    ):
        return False
    template = _templates.get(queryset.model)
    if template is None:
        template = _templates[queryset.model] = _state(Query(queryset.model))
    return _state(queryset._query) == template


_MISSING = object()


def _state(query: Query) -> dict[str, Any]:
    """A query's own attributes, less those equal to the class's default: ``chain()`` (as
    in ``.all()`` or ``.using()``) sets some of them without changing the query."""
    defaults = type(query)
    return {k: v for k, v in vars(query).items() if getattr(defaults, k, _MISSING) != v}
