"""Liveness, readiness, metrics, OpenAPI and docs: the unauthenticated surface."""
