"""Models used by the ORM integration tests."""
