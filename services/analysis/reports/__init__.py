"""HTML reports rendered from stored analyses (self-contained: no script, no external resource)."""
