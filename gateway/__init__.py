"""Quarry's gateway: the only public entry point of the platform."""
