"""Tabular datasets (CSV, Excel, Parquet): safe readers and the automatic profile.

Import ``profile`` (polars, numpy) only where the work runs; ``sniff`` and ``errors``
use the standard library alone, so the upload route can import them cheaply.
"""
