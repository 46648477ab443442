"""AI integration fixtures: real models (cached like tests/inference), real Redis, a real in-process worker.

The worker's engine processes live in :mod:`tasks.ai` module state, so the
models load once per test session (the spec stays the same across tests:
absolute model paths, the same thread count) — only the first fill pays the
load. ``close_engines`` runs at session end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from app.services import Services
from app.settings import Settings
from inference.models.defaults import ensure_default_models
from tests.conftest import make_settings
from tests.helpers import RedisServer

ROOT = Path(__file__).resolve().parents[2]
THREADS = min(2, os.cpu_count() or 1)
# fill_budget 0: what a fill answers must not depend on how loaded the CI box is (the budget has its own
# tests with a scripted clock in tests/inference/test_fill.py).
FAST = {"task_min_backoff": 100, "task_max_backoff": 400, "fill_budget": 0,
        "task_time_limits": "high=30,default=30,ai=180,analytics=30", "worker_timeout_ms": 200,
        "relay_interval": 0.05, "breaker_fail_max": 50, "ai_threads": THREADS,
        "webhook_allow_nets": "127.0.0.0/8", "webhook_timeout": 3.0}


@pytest.fixture(scope="session")
def model_paths() -> dict[str, Path]:
    return ensure_default_models(os.environ.get("FMS_TEST_MODELS_DIR", ROOT / "var"))


@pytest.fixture(scope="package", autouse=True)
def _ai_package() -> Iterator[None]:
    """Leave no engine child behind for the rest of the suite."""
    yield
    import tasks.ai

    tasks.ai.close_engines()


def ai_settings(tmp_path: Path, redis_url: str, model_paths: dict[str, Path], **extra: Any) -> Settings:
    values: dict[str, Any] = {**FAST, "llm_model": str(model_paths["llm"]), "embed_model": str(model_paths["embedder"]),
                              "embed_tokenizer": str(model_paths["tokenizer"])}
    values.update(extra)
    return make_settings(tmp_path, redis_url, **values)


def start_embedder(socket_path: Path, model_paths: dict[str, Path], data_dir: Path) -> subprocess.Popen[bytes]:
    """The real ``fms embedder`` process on ``socket_path``, ready (its model loaded) when this returns."""
    from inference.embed_server import EmbedderError, ping
    from tests.helpers import wait_for

    env = {**os.environ, "FMS_DATA_DIR": str(data_dir), "FMS_EMBEDDER_SOCKET": str(socket_path),
           "FMS_EMBED_MODEL": str(model_paths["embedder"]), "FMS_EMBED_TOKENIZER": str(model_paths["tokenizer"])}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "fms"), "embedder"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def loaded() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "embedder exited"
        try:
            return bool(ping(socket_path).get("loaded"))
        except EmbedderError:
            return False

    wait_for(loaded, 60, interval=0.05, what="the embedder to load its model")
    return proc


@pytest.fixture(scope="session")
def embedder_socket(model_paths: dict[str, Path]) -> Iterator[Path]:
    """One embedder process for the session, as the process tree runs it (a short path: sun_path is 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="fms-emb-", dir="/tmp"))
    sock = root / "embedder.sock"
    proc = start_embedder(sock, model_paths, root)
    yield sock
    proc.send_signal(signal.SIGTERM)
    proc.wait(15)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer, model_paths: dict[str, Path],
             embedder_socket: Path) -> Settings:
    redis_server.client(0).flushall()
    return ai_settings(tmp_path, redis_server.url, model_paths, embedder_socket=str(embedder_socket))


@pytest.fixture
def broker(settings: Settings, svc: Services) -> Iterator[Any]:
    from tasks.breaker import reset_all
    from tasks.broker import configure
    from tasks.registry import load_actors

    reset_all()
    broker = configure(settings, svc)
    load_actors()
    yield broker


@pytest.fixture
def worker(broker: Any) -> Iterator[dramatiq.Worker]:
    if not getattr(broker, "_booted", False):
        broker.emit_after("process_boot")
        broker._booted = True
    # ai (worker-ai) plus what worker-default serves for AI work: the embed hook (default), ai.embed (embed)
    w = dramatiq.Worker(broker, queues={"ai", "default", "embed"}, worker_threads=1, worker_timeout=200)
    w.start()
    yield w
    w.stop(timeout=10_000)


@pytest.fixture
def relay(broker: Any, svc: Services, settings: Settings) -> Any:
    from tasks.relay import Relay

    return Relay(svc.store, broker, batch=settings.relay_batch, interval=settings.relay_interval)


def wait_task(api: Any, task_id: str, timeout: float = 150.0) -> dict[str, Any]:
    """Poll GET /api/v1/tasks/{id} until the task finishes (or fail at the deadline)."""
    from tests.helpers import wait_for

    def done() -> dict[str, Any] | None:
        rec = api.get(f"/api/v1/tasks/{task_id}").json
        return rec if rec.get("state") in {"succeeded", "failed", "dead", "cancelled"} else None

    return wait_for(done, timeout, interval=0.05, what=f"task {task_id}")  # type: ignore[no-any-return]
