"""Run model calls in a child process so a hard timeout can kill them.

llama.cpp cannot be interrupted mid-prompt, and a native call holding the GIL
for minutes would starve the worker's heartbeat thread (Dramatiq #692). So the
model lives in a child (``multiprocessing`` *spawn*: no forked locks or
half-initialised native state) and the parent only waits on a pipe, polling
with a short interval: it stays responsive, forwards progress messages
(prefill done, tokens so far) to a callback, and on timeout kills the child,
starts a fresh one with the same model, and raises :class:`EngineTimeout`.

One ``EngineProcess`` serves one caller at a time (calls are serialised by a
lock) — the AI queue runs with concurrency 1 anyway.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import SpawnProcess

DEFAULT_TIMEOUT_S = 300.0


class EngineError(RuntimeError):
    """The model call failed inside the child (message carries the child's error)."""


class EngineTimeout(EngineError):
    """The call exceeded its hard time limit; the child was killed and restarted."""


class EngineCrashed(EngineError):
    """The child died during a call (segfault, OOM kill); it has been restarted."""


@dataclass(frozen=True)
class EngineSpec:
    """What the child loads. ``kind``: ``llama`` (GGUF) or ``onnx`` (embedder)."""

    kind: str
    model_path: str
    tokenizer_path: str | None = None
    config: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------
# child side
# ---------------------------------------------------------------------------------------
class _ChildState:
    """The engine and the operations the parent may ask for (runs in the child only)."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.spec: EngineSpec | None = None

    def load(self, spec: dict, progress) -> dict:
        self.close(progress)
        s = EngineSpec(**spec)
        t0 = time.perf_counter()
        if s.kind == "llama":
            from inference.engines.llama import LlamaConfig, LlamaEngine
            from inference.fill import warm_up

            self.engine = LlamaEngine(s.model_path, LlamaConfig(**s.config))
            warm_up(self.engine)  # the few-shot prefix of every fill is cached from the start
        elif s.kind == "onnx":
            from inference.engines.onnx import OnnxConfig, OnnxEmbedder

            if s.tokenizer_path is None:
                raise ValueError("an onnx engine needs tokenizer_path")
            self.engine = OnnxEmbedder(s.model_path, s.tokenizer_path, OnnxConfig(**s.config))
        else:
            raise ValueError(f"unknown engine kind {s.kind!r}")
        self.spec = s
        return {"load_ms": (time.perf_counter() - t0) * 1000, "pid": os.getpid(),
                "warmup_ms": getattr(self.engine, "warmup_ms", 0.0), "kind": s.kind}

    def close(self, progress=None) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
            self.spec = None

    def complete(self, progress, prompt: str, **kw):
        return self.engine.complete(prompt, on_progress=progress, **kw)

    def fill(self, progress, schema: dict, text: str, **kw):
        from inference.fill import fill

        return fill(self.engine, schema, text, on_progress=progress, **kw)

    def summarize(self, progress, texts, **kw):
        from inference.summarize import summarize

        return summarize(self.engine, texts, on_progress=progress, **kw)

    def embed(self, progress, texts: list[str]):
        return self.engine.embed(list(texts))

    def info(self, progress) -> dict:
        return {"pid": os.getpid(), "spec": self.spec.to_dict() if self.spec else None}

    def crash(self, progress) -> None:  # test hook: die like a segfault would
        os._exit(70)


def _child_main(conn, spec: dict | None) -> None:
    state = _ChildState()

    def progress_for(call_id: int) -> Callable[[dict], None]:
        def send(payload: dict) -> None:
            conn.send(("progress", call_id, payload))
        return send

    if spec is not None:
        try:
            conn.send(("result", 0, state.load(spec, None)))
        except Exception as exc:  # noqa: BLE001 - report load failures instead of dying silently
            conn.send(("error", 0, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        call_id, method, args, kwargs = msg
        if method == "__exit__":
            state.close()
            conn.send(("result", call_id, None))
            break
        try:
            if method == "load":
                result = state.load(args[0], progress_for(call_id))  # the parent sends (spec,)
            else:
                result = getattr(state, method)(progress_for(call_id), *args, **kwargs)
            conn.send(("result", call_id, result))
        except Exception as exc:  # noqa: BLE001 - any engine error goes back to the parent
            conn.send(("error", call_id, f"{type(exc).__name__}: {exc}", traceback.format_exc()))


# ---------------------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------------------
class EngineProcess:
    """A model in a child process with a hard per-call timeout.

    >>> ep = EngineProcess(EngineSpec("llama", "var/models/gemma-3-270m-q4_k_m.gguf", config={"n_threads": 2}))
    >>> ep.call("complete", "Hello", max_tokens=8, on_progress=print).text
    """

    def __init__(self, spec: EngineSpec | None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 load_timeout_s: float = 120.0, poll_interval_s: float = 0.1) -> None:
        self.spec = spec
        self.timeout_s = timeout_s
        self.load_timeout_s = load_timeout_s
        self.poll_interval_s = poll_interval_s
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._proc: SpawnProcess | None = None
        self._conn: Connection | None = None
        self._next_id = 1
        self.restarts = 0
        self.load_info: dict = {}
        self._start()

    # -- lifecycle -----------------------------------------------------------------------
    def _start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_child_main, args=(child, self.spec.to_dict() if self.spec else None),
                                 daemon=True, name="fms-engine")
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        if self.spec is not None:
            self.load_info = self._wait(0, self.load_timeout_s, None, restart_on_timeout=False)

    def _kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is not None and proc.is_alive():
            proc.kill()
        if proc is not None:
            proc.join(timeout=10)

    def restart(self) -> None:
        """Kill the child and start a fresh one with the current spec."""
        with self._lock:
            self._kill()
            self.restarts += 1
            self._start()

    def switch(self, spec: EngineSpec) -> dict:
        """Close the current model and load ``spec`` in the same child (model switch)."""
        with self._lock:
            info = self.call("load", spec.to_dict(), timeout_s=self.load_timeout_s)
            self.spec = spec
            self.load_info = info
            return info

    def close(self) -> None:
        """Ask the child to free its model and exit; kill it if it does not."""
        with self._lock:
            if self._proc is None:
                return
            try:
                self._send("__exit__", (), {})
                self._proc.join(timeout=10)
            except (OSError, EOFError, BrokenPipeError):
                pass
            self._kill()

    def __enter__(self) -> EngineProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    # -- calls ---------------------------------------------------------------------------
    def _send(self, method: str, args: tuple, kwargs: dict) -> int:
        call_id = self._next_id
        self._next_id += 1
        assert self._conn is not None, "the engine process is started in __init__ and on every restart"
        self._conn.send((call_id, method, args, kwargs))
        return call_id

    def call(self, method: str, *args, timeout_s: float | None = None,
             on_progress: Callable[[dict], None] | None = None, **kwargs) -> Any:
        """Run ``method`` (complete, fill, summarize, embed, info, load) in the child.

        Raises EngineTimeout after ``timeout_s`` (default: the instance's), having
        killed and restarted the child; EngineError for errors raised in the child.
        """
        with self._lock:
            if not self.alive:
                self.restart()
            call_id = self._send(method, args, kwargs)
            return self._wait(call_id, timeout_s or self.timeout_s, on_progress)

    def _wait(self, call_id: int, timeout_s: float, on_progress, restart_on_timeout: bool = True) -> Any:
        deadline = time.monotonic() + timeout_s
        proc, conn = self._proc, self._conn  # _start() below is always followed by a raise
        assert proc is not None and conn is not None, "the engine process is started before any wait"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                if restart_on_timeout:
                    self.restarts += 1
                    self._start()
                raise EngineTimeout(f"model call exceeded {timeout_s:.0f} s; engine process restarted")
            try:
                ready = conn.poll(min(self.poll_interval_s, left))
            except (OSError, EOFError):
                ready = True
            if not ready:
                if not proc.is_alive():
                    return self._crashed()
                continue
            try:
                kind, msg_id, *payload = conn.recv()
            except (EOFError, OSError):
                return self._crashed()
            if msg_id != call_id:
                continue  # stale message from an earlier (timed-out) call
            if kind == "progress":
                if on_progress is not None:
                    on_progress(payload[0])
                continue
            if kind == "error":
                raise EngineError(payload[0])
            return payload[0]

    def _crashed(self):
        code = self._proc.exitcode if self._proc is not None else None
        self._kill()
        self.restarts += 1
        self._start()
        raise EngineCrashed(f"engine process died (exit code {code}); restarted")

    # -- conveniences ----------------------------------------------------------------------
    def complete(self, prompt: str, **kw):
        return self.call("complete", prompt, **kw)

    def fill(self, schema: dict, text: str, **kw):
        return self.call("fill", schema, text, **kw)

    def summarize(self, texts, **kw):
        return self.call("summarize", texts, **kw)

    def embed(self, texts: list[str], **kw):
        return self.call("embed", list(texts), **kw)


def default_specs(data_dir: str | os.PathLike[str], threads: int = 2) -> dict[str, EngineSpec]:
    """EngineSpecs for the default models (installing them if needed): ``{"llm": ..., "embedder": ...}``.

    ``threads`` should be the number of cores the AI worker is pinned to.
    """
    from inference.models.defaults import ensure_default_models

    paths = ensure_default_models(data_dir)
    return {
        "llm": EngineSpec("llama", str(paths["llm"]), config={"n_threads": threads, "n_threads_batch": threads}),
        "embedder": EngineSpec("onnx", str(paths["embedder"]), str(paths["tokenizer"]), config={"threads": threads}),
    }
