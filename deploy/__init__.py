"""Quarry's local launcher: real backing servers without Docker (``deploy.backing``),
the application processes (``deploy.platform``) and ``python -m deploy up``.

The test harness (``tests/conftest.py``) uses the same code as ``make up``.
"""
