"""``ai.embed`` on its own queue behind a circuit breaker: an embedder that is down or hung costs the
embeddings, never the fills.

Real parts: the broker and an in-process Dramatiq worker serving what worker-default serves
(``default``, ``embed``), the relay, the real ``fms embedder`` process (``start_embedder``) and,
for a hung embedder, a Unix socket that accepts connections and never answers.
"""

from __future__ import annotations

import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.process_tree import process
from app.settings import Settings
from tasks.routing import queue_for
from tests.ai.conftest import ai_settings, start_embedder
from tests.conftest import Api
from tests.helpers import RedisServer, wait_for
from tests.workers import running_worker

SCHEMA = {"type": "object", "properties": {"details": {"type": "string"}}}
BOUND = 2  # FMS_AI_QUEUE_MAX here
FAIL_MAX = 2  # FMS_BREAKER_FAIL_MAX here
EMBED_QUEUES = {"default", "embed"}  # the hook runs on default, the embeds on embed (worker-default)


class HungEmbedder:
    """A Unix socket that accepts every connection and never answers (a stuck embedder); counts them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            self._conns.append(conn)
            self.accepted += 1

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)
        for conn in self._conns:
            conn.close()
        self.path.unlink(missing_ok=True)


@pytest.fixture
def embedder_socket() -> Iterator[Path]:
    """Where this test's embedder listens (nothing does unless the test starts one)."""
    root = Path(tempfile.mkdtemp(prefix="fms-embq-", dir="/tmp"))
    yield root / "embedder.sock"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer,
             model_paths: dict[str, Path], embedder_socket: Path) -> Settings:
    """A small AI queue bound and breaker threshold; ``indirect`` parameters override more."""
    redis_server.client(0).flushall()
    extra = {"ai_queue_max": BOUND, "breaker_fail_max": FAIL_MAX, "breaker_reset": 600.0,
             "embedder_socket": str(embedder_socket), **getattr(request, "param", {})}
    return ai_settings(tmp_path, redis_server.url, model_paths, **extra)


def _embed_tasks(svc: Any) -> list[dict[str, Any]]:
    return [svc.store.get_task(t["id"]) for t in svc.store.list_tasks(None, None, None, 100)
            if t["actor"] == "ai.embed"]


def _submit(api: Api, relay: Any, svc: Any, n: int) -> tuple[str, list[str]]:
    """``n`` submissions on an embedding form, the outbox relayed: ``n`` ai.embed tasks on their way."""
    form = api.post("/api/v1/forms", {"title": "t", "schema": SCHEMA, "settings": {"ai": {"embed": True}}}).json
    ids = []
    for i in range(n):
        sub = api.post(f"/api/v1/forms/{form['id']}/submissions",
                       {"answers": {"details": f"Printer {i} on floor {i + 2} jams on every long print job."}})
        assert sub.status_code == 201, sub.json
        ids.append(sub.json["id"])
    wait_for(lambda: relay.run_once() == 0 and not svc.store.pending_events(10), 10, what="outbox drained")
    return form["id"], ids


def test_embed_has_its_own_queue_served_by_worker_default() -> None:
    assert queue_for("ai.embed") == "embed" and queue_for("ai.fill") == "ai"
    assert "embed" in process("worker-default").queues and "embed" not in process("worker-ai").queues
    assert "embedder" in process("worker-default").wants


@pytest.mark.parametrize("settings", [{"task_min_backoff": 60_000, "task_max_backoff": 120_000}], indirect=True)
def test_embeds_retrying_while_the_embedder_is_down_do_not_fill_the_ai_queue(
        api: Api, svc: Any, broker: Any, relay: Any) -> None:
    """More than FMS_AI_QUEUE_MAX embeds wait out their backoff (a minute) with the embedder down: a fill
    and a summary are still accepted, as the ai queue holds none of them."""
    n = BOUND + 2
    with running_worker(broker, threads=1, stop_timeout_ms=10_000, queues=EMBED_QUEUES):
        form_id, subs = _submit(api, relay, svc, n)

        def all_retrying() -> list[dict[str, Any]] | None:
            recs = _embed_tasks(svc)
            done = len(recs) == n and all(r["error"] and r["attempts"] >= 1 and r["state"] == "queued" for r in recs)
            return recs if done else None

        recs = wait_for(all_retrying, 30, interval=0.05, what="every ai.embed to fail once and wait to retry")
    assert all("embedder_unavailable" in r["error"]["message"] for r in recs), recs
    assert svc.dispatch.queue_depth("embed") == n  # retries waiting in the embed queue's delay queue
    assert svc.dispatch.queue_depth("ai") == 0
    fill = api.post(f"/api/v1/forms/{form_id}/fill", {"text": "The printer on floor 3 jams."})
    assert fill.status_code == 202, fill.json  # was 503 ai_queue_full while embeds counted toward the bound
    summary = api.post(f"/api/v1/submissions/{subs[0]}/summarize")
    assert summary.status_code == 202, summary.json
    assert svc.dispatch.queue_depth("ai") == 2
    ready = api.get("/ready").json["checks"]["ai_queue"]
    assert ready["depth"] == 2 and ready["max"] == BOUND and ready["ok"] is False  # the bound counts fills


@pytest.mark.parametrize("settings", [{"embedder_timeout": 0.4, "task_min_backoff": 200, "task_max_backoff": 2000}],
                         indirect=True)
def test_a_hung_embedder_opens_the_breaker_then_attempts_fail_fast_until_a_trial_call_succeeds(
        api: Api, svc: Any, broker: Any, relay: Any, embedder_socket: Path, model_paths: dict[str, Path],
        settings: Settings) -> None:
    import tasks.ai
    from tasks.errors import Retryable

    per_request_s = tasks.ai._embedder_timeout_s(settings, 1, "embed")
    assert per_request_s == pytest.approx(2.0)  # 5 x FMS_EMBEDDER_TIMEOUT for one text
    hung = HungEmbedder(embedder_socket)
    try:
        with running_worker(broker, threads=1, stop_timeout_ms=10_000, queues=EMBED_QUEUES):
            _, subs = _submit(api, relay, svc, 3)

            def every_one_failed_fast() -> list[dict[str, Any]] | None:
                recs = _embed_tasks(svc)
                fast = [r for r in recs if r["error"] and "circuit open" in r["error"]["message"]]
                return recs if len(recs) == 3 and len(fast) == 3 else None

            recs = wait_for(every_one_failed_fast, 60, interval=0.05, what="every ai.embed to meet the open circuit")
            # only the attempts before the circuit opened reached the hung embedder (and waited out their timeout)
            assert hung.accepted == FAIL_MAX, hung.accepted
            assert all(r["state"] in {"queued", "running"} for r in recs), recs  # retryable, not dead
            attempts = sum(r["attempts"] for r in recs)
        assert hung.accepted == FAIL_MAX and attempts > FAIL_MAX
        cb = tasks.ai.embedder_breaker(settings)
        assert cb.current_state == "open"
        t0 = time.monotonic()
        with pytest.raises(Retryable, match="circuit open"):
            tasks.ai._embed_remote(["printer jams"], queue="embed")
        assert time.monotonic() - t0 < per_request_s / 2  # no wait for the hung embedder
        assert hung.accepted == FAIL_MAX
    finally:
        hung.close()

    proc = start_embedder(embedder_socket, model_paths, embedder_socket.parent)
    try:
        with pytest.raises(Retryable, match="circuit open"):  # up again, but the circuit waits FMS_BREAKER_RESET
            tasks.ai._embed_remote(["printer jams"], queue="embed")
        cb.reset_timeout = 0.0  # as if FMS_BREAKER_RESET had elapsed: the next call is the trial
        vectors, sha = tasks.ai._embed_remote(["printer jams"], queue="embed")
        assert len(vectors) == 1 and sha == tasks.ai.ai.file_sha256(model_paths["embedder"])
        assert cb.current_state == "closed"
        with running_worker(broker, threads=1, stop_timeout_ms=10_000, queues=EMBED_QUEUES):
            wait_for(lambda: all(r["state"] == "succeeded" for r in _embed_tasks(svc)), 60, interval=0.05,
                     what="the retried embeds to succeed once the circuit closed")
        assert all(svc.store.get_embedding(s) is not None for s in subs)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


@pytest.mark.parametrize("settings", [{"embedder_timeout": 20.0}], indirect=True)
def test_themes_embed_within_the_tasks_deadline_and_are_left_out_when_it_is_near(
        broker: Any, embedder_socket: Path, settings: Settings) -> None:
    """A form summary's themes never outlast the task's time limit (the summary is written by then):
    with little time left no request is sent, otherwise the request's timeout is what is left."""
    import tasks.ai

    assert tasks.ai._embedder_timeout_s(settings, 2) > 60  # a request's own timeout would be far too long
    hung = HungEmbedder(embedder_socket)
    try:
        assert tasks.ai._themes(["a", "b"], deadline=time.monotonic() + 0.1) is None
        assert hung.accepted == 0  # too little left: not even a connection
        t0 = time.monotonic()
        assert tasks.ai._themes(["a", "b"], deadline=time.monotonic() + 1.5) is None
        assert hung.accepted == 1 and time.monotonic() - t0 < 10  # cut at the deadline, not after 100 s
    finally:
        hung.close()
    started = time.monotonic()
    limit_s = tasks.ai.summarize_form.options["time_limit"] / 1000
    assert tasks.ai._deadline(tasks.ai.summarize_form, started) == pytest.approx(
        started + limit_s - tasks.ai.QUEUE_LIMIT_MARGIN_S)
