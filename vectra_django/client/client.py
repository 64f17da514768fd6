"""The provider-agnostic client: one API over pgvector, Pinecone, Qdrant and memory."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self, TypeVar

from ..errors import NotFoundError, UnsupportedFeatureError, ValidationError
from ..instrumentation import instrument
from ..providers import Provider, load
from . import filters, validation
from .bulk import BulkWrites
from .distance import Metric, check_query_vector
from .index_cache import IndexCache
from .requests import QueryRequest, delete_selector
from .results import QueryResult, Vector
from .retry import RetryPolicy
from .searches import TextSearches
from .validation import Batch

R = TypeVar("R")

_CLIENT_KEYS = {"timeout", "max_retries", "retry_delay", "max_retry_delay", "batch_size"}


class Client(BulkWrites, TextSearches):
    """Talks to one vector store through its provider.

    ``Client(provider="memory")`` works without settings; ``clients["default"]`` builds one
    from the ``VECTRA`` setting. Every argument is validated before the store is touched,
    transient failures are retried per the alias's retry settings, and each operation emits
    an instrumentation event when ``VECTRA_INSTRUMENTATION`` is on.

    ``provider`` is a built-in name (``"pgvector"``, ``"pinecone"``, ``"qdrant"``,
    ``"memory"``), a dotted path to a provider class, or a provider instance; the remaining
    keyword arguments (``url=``, ``api_key=``, ``database=``...) go to its constructor.
    ``index`` and ``namespace`` are the defaults of every call. ``max_retries`` counts
    retries after the first attempt, with exponential backoff from ``retry_delay`` up to
    ``max_retry_delay`` seconds. ``batch_size`` is the upsert chunk (default: the
    provider's).
    """

    def __init__(
        self,
        provider: str | Provider = "memory",
        *,
        index: str | None = None,
        namespace: str | None = None,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        batch_size: int | None = None,
        alias: str | None = None,
        **options: Any,
    ) -> None:
        if isinstance(provider, str):
            provider = load(provider)(**options)
        elif options:
            raise ValidationError(
                f"Provider options {sorted(options)} given with a provider instance."
            )
        self.provider: Provider = provider
        self.alias = alias
        self.default_index = None if index is None else validation.index_name(index)
        self.default_namespace = validation.namespace(namespace)
        self.retry_policy = RetryPolicy(
            max_attempts=max(1, int(max_retries) + 1) if max_retries is not None else 1,
            base_delay=float(retry_delay),
            max_delay=float(max_retry_delay),
        )
        default_batch = getattr(provider, "default_batch_size", 1000)
        self.batch_size = int(batch_size or default_batch)
        if self.batch_size < 1:
            raise ValidationError(f"batch_size must be positive, got {batch_size!r}.")
        self._indexes = IndexCache()

    @classmethod
    def from_settings(cls, config: Mapping[str, Any], alias: str | None = None) -> Client:
        """Build a client from one ``VECTRA`` alias (upper-case keys, like ``DATABASES``)."""
        config = {str(k).lower(): v for k, v in config.items()}
        provider = config.pop("provider", None)
        if not provider:
            from ..errors import ConfigurationError

            raise ConfigurationError(f"VECTRA[{alias!r}] has no PROVIDER.")
        options = dict(config.pop("options", None) or {})
        client_kwargs = {k: config.pop(k) for k in list(config) if k in _CLIENT_KEYS - {"timeout"}}
        return cls(provider, alias=alias, **client_kwargs, **config, **options)

    # -- binding -----------------------------------------------------------------------

    def bind(self, index: str | None = None, namespace: str | None = None) -> Self:
        """A new client sharing this one's provider, with a default index and/or namespace."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        if index is not None:
            clone.default_index = validation.index_name(index)
        if namespace is not None:
            clone.default_namespace = validation.namespace(namespace)
        return clone

    @property
    def provider_name(self) -> str:
        """The provider's short name, as in events and errors (``"pgvector"``...)."""
        return self.provider.name

    def __repr__(self) -> str:
        alias = f" alias={self.alias!r}" if self.alias else ""
        return f"<Client provider={self.provider_name!r}{alias} index={self.default_index!r}>"

    # -- plumbing ----------------------------------------------------------------------

    def _index(self, index: str | None) -> str:
        if index is None:
            if self.default_index is None:
                raise ValidationError("No index given and the client has no default index.")
            return self.default_index
        return validation.index_name(index)

    def _namespace(self, namespace: str | None) -> str:
        return self.default_namespace if namespace is None else validation.namespace(namespace)

    def _call(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        on_retry = getattr(self.provider, "on_retry", None)
        return self.retry_policy.call(fn, *args, on_retry=on_retry, **kwargs)

    def _description(self, index: str) -> dict[str, Any]:
        cached = self._indexes.get(index)
        if cached is None:
            cached = self._call(self.provider.describe_index, index)
            self._indexes.put(index, cached)
        return cached

    def _dimension(self, index: str) -> int:
        return int(self._description(index)["dimension"])

    # -- indexes -------------------------------------------------------------------------

    def create_index(
        self, name: str, dimension: int, metric: Metric = "cosine", **options: Any
    ) -> dict[str, Any]:
        """Create an index (a no-op when it exists with the same dimension and metric)."""
        name = validation.index_name(name)
        dimension = validation.dimension(dimension)
        metric = validation.metric(metric)
        with instrument(
            "create_index", self.provider_name, name, metadata={"dimension": dimension}
        ):
            self._call(self.provider.create_index, name, dimension, metric, options)
        self._indexes.forget(name)
        return self._description(name)

    def delete_index(self, name: str) -> None:
        """Delete an index and every vector in it; ``NotFoundError`` when it does not exist."""
        name = validation.index_name(name)
        try:
            with instrument("delete_index", self.provider_name, name):
                self._call(self.provider.delete_index, name)
        finally:
            self._indexes.forget(name)

    def list_indexes(self) -> list[str]:
        """The names of the store's indexes."""
        with instrument("list_indexes", self.provider_name) as details:
            names = self._call(self.provider.list_indexes)
            details["result_count"] = len(names)
        return names

    def describe_index(self, index: str | None = None) -> dict[str, Any]:
        """``name``, ``dimension`` and ``metric`` of an index, plus provider details."""
        index = self._index(index)
        with instrument("describe_index", self.provider_name, index):
            description = self._call(self.provider.describe_index, index)
        self._indexes.put(index, description)
        return dict(description)

    def index_exists(self, index: str) -> bool:
        """Whether ``index`` exists (other errors still raise)."""
        try:
            self.describe_index(index)
        except NotFoundError:
            return False
        return True

    def stats(self, index: str | None = None, namespace: str | None = None) -> dict[str, Any]:
        """Counts per namespace; ``vector_count`` is that of ``namespace`` (default ``""``)."""
        index = self._index(index)
        ns = self._namespace(namespace)
        with instrument("stats", self.provider_name, index, ns):
            result = dict(self._call(self.provider.stats, index))
        result["vector_count"] = result["namespaces"].get(ns, {}).get("vector_count", 0)
        return result

    def list_namespaces(self, index: str | None = None) -> list[str]:
        """The namespaces that hold at least one vector (``""`` is the default one)."""
        index = self._index(index)
        with instrument("list_namespaces", self.provider_name, index) as details:
            names = self._call(self.provider.list_namespaces, index)
            details["result_count"] = len(names)
        return names

    # -- vectors -------------------------------------------------------------------------

    def upsert(
        self,
        index: str | None = None,
        vectors: Any = None,
        *,
        ids: Any = None,
        values: Any = None,
        metadata: Any = None,
        texts: Any = None,
        namespace: str | None = None,
    ) -> dict[str, int]:
        """Insert or replace vectors, in chunks of ``batch_size``.

        Either ``vectors=[{"id", "values", "metadata", "text"}, ...]`` (or :class:`Vector`
        objects), or ``ids=[...]`` with ``values`` as one 2-D array (the fast path for bulk
        loads) and optional ``metadata=[...]`` and ``texts=[...]``. ``text`` is what
        :meth:`text_search` and :meth:`hybrid_search` match words against. The whole batch
        is validated first: one bad item and nothing is written.
        """
        index = self._index(index)
        ns = self._namespace(namespace)
        batch = self._checked_batch(
            index, vectors, ids=ids, values=values, metadata=metadata, texts=texts
        )
        return self._upsert_checked(index, batch, ns)

    def _checked_batch(self, index: str, vectors: Any = None, **columns: Any) -> Batch:
        """``upsert``'s input validated for ``index``, with the provider's own limits: the
        half of an upsert that a bulk load can run while the previous batch is written."""
        batch = validation.batch(vectors, **columns, expected_dimension=self._dimension(index))
        check = getattr(self.provider, "validate_batch", None)
        if check is not None:
            check(batch)
        return batch

    def query(
        self,
        index: str | None = None,
        vector: Any = None,
        *,
        top_k: int = 10,
        filter: Any = None,
        namespace: str | None = None,
        include_values: bool = False,
        include_metadata: bool = True,
        score_threshold: float | None = None,
        id: str | None = None,
        **options: Any,
    ) -> QueryResult:
        """The ``top_k`` nearest vectors, best first; ``id=`` queries by a stored vector."""
        index = self._index(index)
        ns = self._namespace(namespace)
        if (vector is None) == (id is None):
            raise ValidationError("query needs exactly one of vector= or id=.")
        if id is not None:
            stored = self.fetch(index, [id], namespace=ns).get(id)
            if stored is None:
                raise NotFoundError(f"Vector {id!r} does not exist in index {index!r}.")
            vector = stored.values
        request = QueryRequest(
            vector=validation.as_array(vector, expected_dimension=self._dimension(index)),
            top_k=validation.top_k(top_k),
            namespace=ns,
            filter=filters.parse(filter),
            include_values=bool(include_values),
            include_metadata=bool(include_metadata),
            score_threshold=validation.score_threshold(score_threshold),
            options=options,
        )
        check_query_vector(self._description(index)["metric"], request.vector)
        with instrument(
            "query", self.provider_name, index, ns, metadata={"top_k": request.top_k}
        ) as details:
            result = self._call(self.provider.query, index, request)
            if request.score_threshold is not None:
                result = result.above_score(request.score_threshold)
            details["result_count"] = len(result)
        return result

    def fetch(
        self, index: str | None = None, ids: Any = None, *, namespace: str | None = None
    ) -> dict[str, Vector]:
        """The stored vectors among ``ids``; ids that do not exist are absent from the dict."""
        index = self._index(index)
        ns = self._namespace(namespace)
        id_list = validation.vector_ids(ids, allow_duplicates=True)
        with instrument(
            "fetch", self.provider_name, index, ns, metadata={"id_count": len(id_list)}
        ) as details:
            result = self._call(self.provider.fetch, index, list(dict.fromkeys(id_list)), ns)
            details["result_count"] = len(result)
        return result

    def list_ids(
        self,
        index: str | None = None,
        *,
        prefix: str | None = None,
        namespace: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[str]:
        """Every id in ``namespace`` (only those starting with ``prefix``), a page at a time.

        Arguments are checked at once; the store is read lazily, one request per page (a
        store may cap the page, Pinecone at 100). Deleting ids already yielded while
        iterating is safe. The order is the store's own: sorted on memory, pgvector and
        Pinecone, by internal point id on Qdrant.
        """
        index = self._index(index)
        ns = self._namespace(namespace)
        start = validation.id_prefix(prefix)
        size = validation.page_size(page_size)
        list_page = getattr(self.provider, "list_ids", None)
        if list_page is None:
            raise UnsupportedFeatureError(self.provider_name, "listing ids")
        return self._id_pages(list_page, index, ns, start, size)

    def _id_pages(
        self, list_page: Callable[..., Any], index: str, ns: str, prefix: str, size: int
    ) -> Iterator[str]:
        cursor = None
        while True:
            with instrument(
                "list_ids", self.provider_name, index, ns, metadata={"page_size": size}
            ) as details:
                page = self._call(list_page, index, ns, prefix, size, cursor)
                details["result_count"] = len(page.ids)
            yield from page.ids
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def update(
        self,
        index: str | None = None,
        id: str | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        values: Any = None,
        namespace: str | None = None,
    ) -> None:
        """Replace a vector's values and/or merge keys into its metadata (shallow)."""
        index = self._index(index)
        ns = self._namespace(namespace)
        vid = validation.vector_id(id)
        if metadata is None and values is None:
            raise ValidationError("update needs metadata= and/or values=.")
        array = (
            None
            if values is None
            else validation.as_array(values, expected_dimension=self._dimension(index))
        )
        meta = None if metadata is None else validation.metadata(metadata)
        with instrument("update", self.provider_name, index, ns, metadata={"id_count": 1}):
            self._call(self.provider.update, index, vid, ns, values=array, metadata=meta)

    def delete(
        self,
        index: str | None = None,
        ids: Any = None,
        *,
        filter: Any = None,
        delete_all: bool = False,
        namespace: str | None = None,
    ) -> dict[str, int | None]:
        """Delete by ``ids``, by ``filter``, or everything in the namespace (``delete_all``)."""
        index = self._index(index)
        ns = self._namespace(namespace)
        id_list, node = delete_selector(ids, filter, delete_all)
        with instrument(
            "delete",
            self.provider_name,
            index,
            ns,
            metadata={"id_count": len(id_list)} if id_list is not None else {},
        ):
            count = self._call(
                self.provider.delete,
                index,
                ns,
                ids=id_list,
                filter=node,
                delete_all=bool(delete_all),
            )
        return {"deleted_count": count}

    # -- health --------------------------------------------------------------------------

    def healthy(self) -> bool:
        """Whether the store answers; never raises."""
        try:
            return bool(self.provider.healthy())
        except Exception:
            return False

    def ping(self) -> dict[str, Any]:
        """Health plus the round-trip time in milliseconds."""
        start = time.perf_counter()
        ok = self.healthy()
        return {"healthy": ok, "latency_ms": (time.perf_counter() - start) * 1000.0}

    def close(self) -> None:
        """Release the provider's connections (a pool, an HTTP session); also on ``with``."""
        self.provider.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
