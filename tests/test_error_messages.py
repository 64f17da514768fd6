"""Errors a new user meets first name what they passed and who expects what."""

from __future__ import annotations

import pytest

from tests.testapp.models import Document, Entry, ManualDocument
from vectra_django.errors import ConfigurationError, ValidationError

pytestmark = pytest.mark.django_db


def test_a_field_without_source_or_embedder_says_so():
    with pytest.raises(ConfigurationError, match="has no embedder=") as caught:
        ManualDocument._meta.get_field("embedding").get_embedder()
    assert "has source=" not in str(caught.value)


@pytest.mark.parametrize(
    "search",
    [
        lambda: Document.objects.vector_search([1, 0, 0], limit=0),
        lambda: Document.objects.create(title="a", embedding=[1, 0, 0]).similar(limit=0),
        lambda: Entry.objects.text_search("road", limit=0),
        lambda: Entry.objects.hybrid_search("road", limit=0),
    ],
)
def test_a_bad_limit_is_named_limit(search):
    with pytest.raises(ValidationError, match=r"^limit must be") as caught:
        search()
    assert "top_k" not in str(caught.value)


def test_a_wrong_dimension_names_the_field_not_an_index():
    with pytest.raises(ValidationError, match=r"dimension 2, but the field \(dimensions=\)"):
        Document.objects.vector_search([1, 0], limit=1)
    with pytest.raises(ValidationError, match="expects 3") as caught:
        Document(title="x", embedding=[1, 0])
    assert "index" not in str(caught.value)
