"""Submissions: validation, idempotency, queries, revisions (service.py, query.py, api.py)."""
