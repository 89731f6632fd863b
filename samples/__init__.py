"""Deterministic sample files for tests and benchmarks (``python -m samples.<name>``)."""
