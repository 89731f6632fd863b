"""``make demo``: the platform working, on a demo account, in under a minute.

A client of the platform over HTTP, like a user: it starts the platform when nothing
answers on ``QUARRY_PORT`` (``python -m deploy up`` as a child process) or attaches to
the one that does, creates (or reuses) a demo account, feeds it sample data made by
the project's own generators (:mod:`samples`) and prints where to look, each as a
one-line command that works as printed. It imports no service, gateway, launcher or
shared module (an import-linter contract): only the HTTP API it shows.
"""
