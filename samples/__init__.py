"""Deterministic sample files for tests, benchmarks and the demo (``python -m samples.<name>``).

Imports no service (import-linter keeps it so): samples write files that the services
then read exactly as they would read a user's upload.
"""
