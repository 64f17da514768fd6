"""Documents with vector search: the example app."""
