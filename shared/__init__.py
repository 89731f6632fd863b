"""Quarry's common library: the only code every service and the gateway may import.

`shared` never imports a service or the gateway (checked by import-linter).
"""
