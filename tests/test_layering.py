"""The layers of docs/TEAM.md, read from the source: no module imports upwards (function-level imports included).

- ``app/`` names the task system only at its composition roots (the app
  factory, which plugs :class:`tasks.dispatch.TaskDispatcher` into the
  services, and the CLI, which runs the relay and replays tasks); everything
  else starts work through :class:`app.dispatch.Dispatcher`.
- The domain and the store (every module of ``app/`` that is not HTTP) import
  neither Flask nor Dramatiq, nor the HTTP layer.
- ``tasks/`` may use the domain and the store, never Flask or a blueprint.
- ``etl/`` knows nothing of Flask, Dramatiq or the HTTP layer (``inference/``
  has its own test, tests/inference/test_layering.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.dispatch import Dispatcher, NoDispatcher
from app.services import build
from app.settings import Settings
from tasks.dispatch import TaskDispatcher

ROOT = Path(__file__).resolve().parents[1]
COMPOSITION_ROOTS = {"app/factory.py", "app/cli.py"}
HTTP_MODULES = {"app/__init__.py", "app/factory.py", "app/http.py", "app/openapi.py", "app/pages.py", "app/wsgi.py",
                "app/analytics/dashboard.py", "app/fastpath.py", "app/forms/fastread.py",
                "app/submissions/fastwrite.py"}
# Named so that a rename cannot drop them from the check unnoticed (the check covers all of app/ anyway).
DOMAIN_MODULES = ("app/settings.py", "app/forms/service.py", "app/submissions/service.py", "app/auth/service.py",
                  "app/audit.py", "app/store/base.py", "app/dispatch.py", "app/services.py",
                  "app/tasks_api/service.py", "app/webhooks/service.py")
WEB = ("flask", "werkzeug", "flask_compress")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _modules(folder: str) -> list[tuple[str, set[str]]]:
    return [(str(p.relative_to(ROOT)), _imports(p)) for p in sorted((ROOT / folder).rglob("*.py"))]


def _is_http(rel: str) -> bool:
    return rel in HTTP_MODULES or rel.endswith("/api.py")


def _http_layer(name: str) -> bool:
    """An import of the HTTP layer: a blueprint module, the request helpers or the factory."""
    parts = name.split(".")
    return parts[0] == "app" and ("api" in parts[1:] or name.startswith(("app.http", "app.factory", "app.openapi"))
                                  or name in ("app.create_app", "app.analytics.dashboard"))


def _top(name: str) -> str:
    return name.split(".")[0]


def test_app_starts_tasks_only_through_the_dispatcher() -> None:
    offenders = [f"{rel}: {n}" for rel, names in _modules("app") if rel not in COMPOSITION_ROOTS
                 for n in sorted(names) if _top(n) == "tasks"]
    assert offenders == []


def test_domain_and_store_import_neither_flask_nor_dramatiq_nor_http() -> None:
    for rel in DOMAIN_MODULES:
        assert (ROOT / rel).is_file(), f"{rel} moved: update DOMAIN_MODULES"
    offenders = [f"{rel}: {n}" for rel, names in _modules("app") if not _is_http(rel)
                 for n in sorted(names) if _top(n) in (*WEB, "dramatiq") or _http_layer(n)]
    assert offenders == []


def test_tasks_use_no_flask_and_no_blueprint() -> None:
    offenders = [f"{rel}: {n}" for rel, names in _modules("tasks")
                 for n in sorted(names) if _top(n) in WEB or _http_layer(n)]
    assert offenders == []


def test_etl_knows_nothing_of_flask_dramatiq_or_http() -> None:
    offenders = [f"{rel}: {n}" for rel, names in _modules("etl")
                 for n in sorted(names) if _top(n) in (*WEB, "dramatiq", "tasks") or _http_layer(n)]
    assert offenders == []


def test_the_checks_see_function_level_imports(tmp_path: Path) -> None:
    """The imports that used to cross the boundary were inside functions: the parser must find those."""
    mod = tmp_path / "m.py"
    mod.write_text("def f():\n    from tasks.broker import current\n    import flask\n")
    assert {"tasks.broker", "tasks.broker.current", "flask"} <= _imports(mod)
    assert _http_layer("app.ai.api") and _http_layer("app.http") and not _http_layer("app.ai.service")


def test_the_factory_plugs_the_task_system_in(settings: Settings) -> None:
    from app.factory import create_app

    assert isinstance(build(settings).dispatch, NoDispatcher)  # CLI and workers: nothing to dispatch over HTTP
    svc = create_app(settings).extensions["fms"]
    assert isinstance(svc.dispatch, TaskDispatcher) and isinstance(svc.dispatch, Dispatcher)


def test_services_without_a_dispatcher_refuse_loudly(settings: Settings) -> None:
    dispatch = build(settings).dispatch
    with pytest.raises(RuntimeError, match="no task dispatcher"):
        dispatch.enqueue_tracked("ai.fill", ("form", "text"))
    assert dispatch.workers_ready() is False
