"""app.health's docstring names what its blueprint serves (it once still claimed OpenAPI and docs)."""

from __future__ import annotations

import re

from flask import Flask

from app import health


def test_the_health_docstring_names_exactly_the_paths_it_serves(app: Flask) -> None:
    served = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("health.")}
    assert served == {"/health", "/ready", "/metrics"}
    doc = health.__doc__ or ""
    summary = doc.split("\n\n", 1)[0]
    assert set(re.findall(r"``(/[a-z.]+)``", summary)) == served
    assert "OpenAPI" not in summary and ":mod:`app.docs`" in doc
