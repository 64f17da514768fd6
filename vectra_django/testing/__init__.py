"""Helpers for running against a real PostgreSQL: the embedded server used by tests and demos."""
