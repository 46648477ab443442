"""The AI worker embeds through the host's embedder process: no ONNX child of its own, retries while it is down.

Here the embedder starts inside the test (``start_embedder``, the real ``fms embedder``
process), after the first submission, so the worker meets it down first.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from tests.ai.conftest import ai_settings, start_embedder
from tests.conftest import Api
from tests.helpers import RedisServer, wait_for

SCHEMA = {"type": "object", "properties": {"details": {"type": "string"}}}


@pytest.fixture
def embedder_socket() -> Iterator[Path]:
    """Where this test's embedder will listen; nothing does until the test starts it."""
    root = Path(tempfile.mkdtemp(prefix="fms-emb-", dir="/tmp"))
    yield root / "embedder.sock"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer, model_paths: dict[str, Path],
             embedder_socket: Path) -> Settings:
    """Backoff up to 2 s: the 20 retries of ai.embed then span ~20-35 s, time for the embedder to start."""
    redis_server.client(0).flushall()
    return ai_settings(tmp_path, redis_server.url, model_paths, embedder_socket=str(embedder_socket),
                       task_max_backoff=2000)


def _embed_task(svc: Any) -> dict[str, Any] | None:
    tasks = [t for t in svc.store.list_tasks(None, None, None, 50) if t["actor"] == "ai.embed"]
    return tasks[0] if tasks else None


def test_an_embed_retries_while_the_embedder_is_down_and_succeeds_once_it_is_back(
        api: Api, svc: Any, worker: Any, relay: Any, embedder_socket: Path, model_paths: dict[str, Path]) -> None:
    import tasks.ai

    form = api.post("/api/v1/forms", {"title": "t", "schema": SCHEMA, "settings": {"ai": {"embed": True}}}).json
    sub = api.post(f"/api/v1/forms/{form['id']}/submissions",
                   {"answers": {"details": "The printer on the second floor jams on every long print job."}})
    assert sub.status_code == 201, sub.json  # the submission itself never waits for the embedder
    wait_for(lambda: relay.run_once() == 0 and not svc.store.pending_events(10), 10, what="outbox drained")

    def failed_twice() -> dict[str, Any] | None:
        rec = _embed_task(svc)
        return rec if rec and rec["error"] and svc.store.get_task(rec["id"])["attempts"] >= 2 else None

    rec = wait_for(failed_twice, 60, interval=0.05, what="ai.embed to fail against the missing embedder")
    assert rec["state"] in {"queued", "running"}, rec  # waiting for its next retry, not dead
    assert "embedder_unavailable" in rec["error"]["message"] and "not running" in rec["error"]["message"], rec
    assert svc.store.get_embedding(sub.json["id"]) is None  # nothing half-written
    assert api.get(f"/api/v1/forms/{form['id']}/duplicates").json["embedded"] == 0
    assert api.get(f"/api/v1/forms/{form['id']}/similar?q=printer").status_code == 503

    proc = start_embedder(embedder_socket, model_paths, embedder_socket.parent)
    try:
        done = wait_for(lambda: (r := svc.store.get_task(rec["id"])) and r["state"] == "succeeded" and r, 90,
                        interval=0.05, what="ai.embed to succeed once the embedder is up")
        assert done["attempts"] >= 3 and done["result"]["embedded"] is True, done
        stored = svc.store.get_embedding(sub.json["id"])
        assert stored is not None and stored["model_sha256"] == done["result"]["model_sha256"]
        assert stored["model_sha256"] == tasks.ai.ai.file_sha256(model_paths["embedder"])
        sim = api.get(f"/api/v1/forms/{form['id']}/similar", query_string={"q": "printer keeps jamming", "k": 1})
        assert sim.status_code == 200 and sim.json["items"][0]["submission_id"] == sub.json["id"], sim.json
        assert sim.json["items"][0]["score"] > 0.5
        assert "onnx" not in tasks.ai._engines  # the worker loaded no MiniLM of its own
        with pytest.raises(ValueError, match="no onnx engine"):
            tasks.ai.engine("onnx")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
