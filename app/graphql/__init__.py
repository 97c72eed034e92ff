"""The GraphQL API: per-domain types in ``types/``, merged in ``schema.py``."""
