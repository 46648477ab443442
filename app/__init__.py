"""fms: self-hosted form management with CPU-only AI.

The Flask application factory lives in :mod:`app.factory`; importing this
package does not import Flask, so the domain modules (settings, store,
forms, submissions, auth, audit) stay usable from workers and the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(*args: Any, **kwargs: Any) -> Flask:
    from app.factory import create_app as factory

    return factory(*args, **kwargs)
