"""Liveness, readiness and metrics (``/health``, ``/ready``, ``/metrics``): the unauthenticated probes.

``/openapi.json`` and ``/docs``, also unauthenticated, are :mod:`app.docs`.
"""
