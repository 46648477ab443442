"""EngineProcess: hard timeout kills and restarts the child; progress flows back; model switch."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from inference.isolation import EngineCrashed, EngineError, EngineProcess, EngineSpec, EngineTimeout

from .conftest import THREADS


@pytest.fixture(scope="module")
def proc(model_paths):
    spec = EngineSpec("llama", str(model_paths["llm"]), config={"n_threads": THREADS})
    ep = EngineProcess(spec, timeout_s=120)
    yield ep
    ep.close()
    assert not ep.alive


def test_call_with_progress_and_parent_stays_responsive(proc):
    events: list[dict] = []
    ticks = 0
    done = threading.Event()

    def heartbeat() -> None:  # stands in for the worker's heartbeat thread
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            done.wait(0.05)

    t = threading.Thread(target=heartbeat)
    t.start()
    try:
        out = proc.complete("Once upon a time", max_tokens=24, on_progress=events.append, progress_every=4)
    finally:
        done.set()
        t.join()
    assert out.gen_tokens >= 1 and out.text
    assert events[0]["phase"] == "prefill_done"
    assert any(e["phase"] == "generating" and e["tokens"] >= 4 for e in events)
    assert ticks >= 2


def test_timeout_kills_long_generation_and_next_call_succeeds(proc):
    old_pid = proc.pid
    t0 = time.monotonic()
    with pytest.raises(EngineTimeout):
        proc.complete("Write a very long story about a dragon.", max_tokens=4000, timeout_s=1.5)
    assert time.monotonic() - t0 < 60  # killed, not waited out
    assert proc.alive and proc.pid != old_pid
    assert proc.restarts >= 1
    out = proc.complete("The sky is", max_tokens=4)
    assert out.gen_tokens >= 1


def test_child_errors_are_reported_not_fatal(proc):
    with pytest.raises(EngineError, match="AttributeError"):
        proc.call("no_such_method")
    assert proc.call("info")["spec"]["kind"] == "llama"


def test_crash_is_detected_and_recovered(proc):
    pid = proc.pid
    with pytest.raises(EngineCrashed):
        proc.call("crash", timeout_s=30)
    assert proc.pid != pid
    assert proc.call("info")["pid"] == proc.pid


def test_model_switch_closes_and_loads_another(proc, model_paths):
    emb = EngineSpec("onnx", str(model_paths["embedder"]), str(model_paths["tokenizer"]),
                     config={"threads": THREADS})
    info = proc.switch(emb)
    assert info["kind"] == "onnx" and info["load_ms"] > 0
    vec = proc.embed(["hello world"])
    assert isinstance(vec, np.ndarray) and vec.shape == (1, 384)
    back = EngineSpec("llama", str(model_paths["llm"]), config={"n_threads": THREADS})
    proc.switch(back)
    assert proc.call("info")["spec"]["kind"] == "llama"
    res = proc.fill({"type": "object", "properties": {"email": {"type": "string", "format": "email"}}},
                    "mail me at a@b.org")
    assert res.answers == {"email": "a@b.org"}


def test_empty_child_then_load_via_switch(model_paths):
    """The tasks layer starts an empty child and loads through switch() (a failed load is closable)."""
    with EngineProcess(None, timeout_s=60) as ep:
        assert ep.call("info")["spec"] is None
        with pytest.raises(EngineError, match=r"FileNotFoundError|not found"):
            ep.switch(EngineSpec("llama", "/nonexistent/model.gguf"))
        info = ep.switch(EngineSpec("onnx", str(model_paths["embedder"]), str(model_paths["tokenizer"]),
                                    config={"threads": 1}))
        assert info["kind"] == "onnx"
        assert ep.embed(["x"]).shape == (1, 384)
