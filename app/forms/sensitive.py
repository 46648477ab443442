"""Sensitive fields: which answers a form marks sensitive and the one way they are masked.

Every place an answer leaves the store for someone who may not see it (API
responses, revisions, webhooks, e-mail, streamed and daily exports) masks it
through :func:`redact`, so the rule cannot drift between copies. Who may see
them is decided in :func:`app.auth.access.hidden_fields`; this module knows
nothing of callers, Flask or Dramatiq, so ``etl/`` may import it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

REDACTED = "[redacted]"


def sensitive_fields(form: Mapping[str, Any]) -> frozenset[str]:
    """The names the form marks sensitive (none when the form says nothing)."""
    return frozenset(form.get("sensitive") or ())


def redact(answers: Mapping[str, Any] | None, hide: Collection[str]) -> dict[str, Any]:
    """``answers`` with every key in ``hide`` replaced by :data:`REDACTED`, whatever its value.

    A null is masked too: what a hidden field holds, even nothing, is not the
    caller's to read (counts of missing values are what analytics shows).
    Returns a new dict in the same key order; the input is never changed (it
    may be cached or shared). A copy plus one store per hidden key, not a
    comprehension over every answer: exports call this once per row.
    """
    out = dict(answers or {})
    for key in hide:
        if key in out:
            out[key] = REDACTED
    return out
