"""The auth service: users, clients (tenants), sessions, tokens, API keys and 2FA.

It is the only issuer of access tokens (EdDSA JWTs) in the platform.
"""
