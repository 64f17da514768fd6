"""factory-boy factories for the test models."""

import factory
import numpy as np

from tests.testapp.models import Document, RemoteDocument

_rng = np.random.default_rng(42)


def _unit_vector(dimensions: int = 3) -> list[float]:
    v = _rng.normal(size=dimensions)
    return (v / np.linalg.norm(v)).tolist()


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    title = factory.Sequence(lambda n: f"Document {n}")
    category = factory.Iterator(["news", "blog", "docs"])
    status = factory.Iterator(["published", "draft"])
    embedding = factory.LazyFunction(_unit_vector)


class RemoteDocumentFactory(DocumentFactory):
    class Meta:
        model = RemoteDocument
