"""A local stand-in for Pinecone's REST API, for tests that drive the real SDK over HTTP.

``FakePinecone`` serves the documented control-plane endpoints (``/indexes``) and, for each
index, the data-plane endpoints under the index's own host, with Pinecone's JSON shapes and
error bodies. It checks ``Api-Key``, enforces the request limits, and can be told to fail
the next requests with 429 (and ``Retry-After``) or 5xx so retries run over real sockets.
"""

from .server import FakePinecone, RecordedRequest

__all__ = ["FakePinecone", "RecordedRequest"]
