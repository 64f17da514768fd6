"""``vector_search``: in place on the model table (pgvector) or through a provider index."""
