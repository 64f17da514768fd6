"""Throwaway models for the benchmarks; their tables are created and dropped by the scripts."""
