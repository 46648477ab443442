"""One process that embeds short query texts for every API worker, over a Unix socket.

Why a process of its own: ``GET /forms/{id}/similar`` needs the query text
embedded while the caller waits. Loading ONNX Runtime, the tokenizer and
the model in each gunicorn worker that served one cost about 235 MB per
worker (2 x cores + 1 of them under one ``MemoryMax=512M``); the ``ai``
queue is serial, so a query sent there would wait behind a running fill.
Here the model is loaded once, runs on one intra-op thread (the process
shares the AI tier's cores with the pinned AI worker), and callers take
turns on the engine. The AI worker embeds through it too (new submissions,
a range summary's themes: one MiniLM per host instead of two, ~190 MB
each); its requests are ``bulk``: the engine runs them one length-bucketed
batch at a time (:meth:`inference.engines.onnx.OnnxEmbedder.iter_batches`)
and a waiting query takes the engine before the next batch
(:class:`PriorityGate`), so a query waits for at most one batch, not for a
whole bulk request.

Protocol: each message is a 4-byte big-endian length and that many bytes of
UTF-8 JSON, one request and one reply per message (a client may send more
on one connection):

* ``{"op": "ping"}`` -> ``{"ok": true, "loaded": bool, "model_sha256": str | null, "error": str | null}``
* ``{"op": "embed", "texts": [str, ...], "priority": "interactive" | "bulk"}`` -> ``{"ok": true,
  "model_sha256": str, "dim": int, "vectors": [[float, ...], ...]}`` (unit vectors; every vector of
  one reply from the same model). ``priority`` defaults to ``interactive`` (at most
  :data:`MAX_TEXTS` texts); ``bulk`` allows :data:`MAX_BULK_TEXTS` and yields to queries.
* failures -> ``{"ok": false, "error": {"code": "bad_request" | "model_unavailable", "message": str}}``

The model file is watched (size and mtime, checked per request): replacing
it reloads the engine, and a model that failed to load is retried at most
every :data:`RETRY_LOAD_S` seconds, so installing the models after the
process started needs no restart. No Flask, Dramatiq or ``app`` import
here; :func:`embed` and :func:`ping` are the client side, stdlib only, so an
API worker importing them loads neither numpy nor ONNX Runtime.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("inference.embed_server")
HEADER = struct.Struct(">I")
MAX_MESSAGE = 4 << 20  # 4 MiB: a bulk reply of 256 384-float vectors is ~2.3 MB of JSON
MAX_TEXTS = 16  # an interactive request (a ``similar`` query is one text)
MAX_BULK_TEXTS = 256  # a bulk request (the AI worker); the client splits longer lists
MAX_BULK_REQUEST = 2 << 20  # JSON bytes of texts per bulk request (ensure_ascii: up to 6 bytes a character)
MAX_CHARS = 8_000
PRIORITIES = ("interactive", "bulk")
RETRY_LOAD_S = 5.0
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes with the terminating NUL


class EmbedderError(Exception):
    """The embedder could not answer: ``code`` is ``unavailable`` (not running, too slow, no model)
    or ``bad_request`` (the request itself was refused)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Embedding:
    """The embedder's answer: one unit vector per text and the sha256 of the model that made them."""

    vectors: list[list[float]]
    model_sha256: str


# -- framing ---------------------------------------------------------------------------------
def send_message(sock: socket.socket, obj: Any) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise EmbedderError("bad_request", f"message of {len(data)} bytes is over {MAX_MESSAGE}")
    sock.sendall(HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 16))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket) -> Any:
    """The next message, or None when the peer closed the connection between messages."""
    head = _recv_exact(sock, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise EmbedderError("bad_request", f"message of {size} bytes is over {MAX_MESSAGE}")
    body = _recv_exact(sock, size)
    if body is None:
        raise EmbedderError("unavailable", "connection closed mid-message")
    return json.loads(body)


# -- the model -------------------------------------------------------------------------------
class PriorityGate:
    """One holder at a time; a waiting interactive caller goes before every waiting bulk one.

    A plain lock held for a whole bulk request would leave an API query (2 s
    budget) waiting behind hundreds of texts. Bulk work takes the gate per
    engine batch, and before each one it lets every waiting query go first.
    Queries could starve bulk work only while they arrive back to back, which
    the API's few workers cannot sustain for long; bulk work has no caller waiting.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._interactive_waiting = 0

    @contextlib.contextmanager
    def hold(self, interactive: bool) -> Iterator[None]:
        with self._cond:
            if interactive:
                self._interactive_waiting += 1
                try:
                    self._cond.wait_for(lambda: not self._busy)
                finally:
                    self._interactive_waiting -= 1
            else:
                self._cond.wait_for(lambda: not self._busy and not self._interactive_waiting)
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


class LoadedModel:
    """The embedder engine, loaded once and reloaded only when the model file changes."""

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 1,
                 retry_load_s: float = RETRY_LOAD_S) -> None:
        self.model_path = model_path
        self.tokenizer_path = tokenizer_path
        self.threads = threads
        self.retry_load_s = retry_load_s
        self.gate = PriorityGate()  # the engine is not thread-safe: one batch at a time
        self.batches_run = 0  # engine batches run since start (tests watch a bulk request progress)
        self.engine: Any = None
        self.sha256: str | None = None
        self.error: str | None = None
        self._stamp: tuple[int, int] | None = None
        self._failed_at: float | None = None

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.model_path.stat()
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def load(self) -> None:
        """(Re)load when nothing is loaded or the file changed; a failure is kept in ``error``."""
        stamp = self._file_stamp()
        if self.engine is not None and stamp == self._stamp:
            return
        if self.engine is None and self._failed_at is not None and stamp == self._stamp \
                and time.monotonic() - self._failed_at < self.retry_load_s:
            return  # the same file failed a moment ago: do not reload it on every request
        from inference.engines.onnx import OnnxConfig, OnnxEmbedder
        from inference.models.defaults import sha256_file

        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self._stamp, self.sha256 = stamp, None
        try:
            if stamp is None:
                raise FileNotFoundError(f"model file {self.model_path} is missing")
            t0 = time.perf_counter()
            engine = OnnxEmbedder(self.model_path, self.tokenizer_path, OnnxConfig(threads=self.threads))
            self.sha256 = sha256_file(self.model_path)
            self.engine, self.error, self._failed_at = engine, None, None
            log.info("embedder loaded %s in %.0f ms", self.model_path, (time.perf_counter() - t0) * 1000)
        except Exception as exc:  # noqa: BLE001 - any load failure means "unavailable", reported to callers
            self.error = f"{type(exc).__name__}: {exc}"
            self._failed_at = time.monotonic()
            log.warning("embedder cannot load %s: %s", self.model_path, self.error)

    def embed(self, texts: list[str], bulk: bool = False) -> dict[str, Any]:
        """Unit vectors for ``texts``, one engine batch per turn at the gate (see :class:`PriorityGate`).

        All from one engine: a model reloaded by another request between two
        batches fails this one (``unavailable``; the caller sends it again)
        rather than mixing two models' vectors in one reply.
        """
        vectors: list[list[float] | None] = [None] * len(texts)
        engine: Any = None
        sha: str | None = None
        steps: Iterator[tuple[list[int], Any]] = iter(())
        while True:
            with self.gate.hold(interactive=not bulk):
                if engine is None:
                    self.load()
                    if self.engine is None:
                        raise EmbedderError("unavailable", f"the embedder has no model: {self.error}")
                    engine, sha, steps = self.engine, self.sha256, self.engine.iter_batches(texts)
                elif self.engine is not engine:
                    raise EmbedderError("unavailable", "the model was reloaded during the request; send it again")
                step = next(steps, None)
                if step is not None:
                    self.batches_run += 1
            if step is None:
                break
            for i, vector in zip(step[0], step[1].tolist(), strict=True):
                vectors[i] = vector
        return {"ok": True, "model_sha256": sha, "dim": int(engine.dim), "vectors": vectors}

    def status(self) -> dict[str, Any]:
        """What ``ping`` answers; never waits for a running query."""
        return {"ok": True, "loaded": self.engine is not None, "model_sha256": self.sha256, "error": self.error}


def _check_texts(request: dict[str, Any]) -> tuple[list[str], bool]:
    """The request's texts and whether it is bulk work; the bounds depend on the priority."""
    priority = request.get("priority", "interactive")
    if priority not in PRIORITIES:
        raise EmbedderError("bad_request", f"priority must be one of {', '.join(PRIORITIES)}")
    texts = request.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise EmbedderError("bad_request", "texts must be a non-empty list of strings")
    limit = MAX_BULK_TEXTS if priority == "bulk" else MAX_TEXTS
    if len(texts) > limit or any(len(t) > MAX_CHARS for t in texts):
        raise EmbedderError("bad_request", f"at most {limit} texts ({priority}) of at most {MAX_CHARS} characters")
    return texts, priority == "bulk"


def answer(model: LoadedModel, request: Any) -> dict[str, Any]:
    """The reply to one request (errors included: the connection stays usable)."""
    try:
        if not isinstance(request, dict) or request.get("op") not in {"ping", "embed"}:
            raise EmbedderError("bad_request", 'op must be "ping" or "embed"')
        if request["op"] == "ping":
            return model.status()
        texts, bulk = _check_texts(request)
        return model.embed(texts, bulk=bulk)
    except EmbedderError as exc:
        code = "model_unavailable" if exc.code == "unavailable" else exc.code
        return {"ok": False, "error": {"code": code, "message": exc.message}}


# -- the server ------------------------------------------------------------------------------
class _Handler(socketserver.BaseRequestHandler):
    server: EmbedServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(self.server.idle_timeout_s)
        try:
            while (request := recv_message(sock)) is not None:
                send_message(sock, answer(self.server.model, request))
        except (OSError, ValueError, EmbedderError) as exc:  # a client that went away or sent garbage
            log.debug("embedder connection ended: %s", exc)


class EmbedServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A threaded Unix-socket server around one :class:`LoadedModel`."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, socket_path: Path, model: LoadedModel, idle_timeout_s: float = 30.0) -> None:
        self.model = model
        self.idle_timeout_s = idle_timeout_s
        self.socket_path = socket_path
        claim_socket_path(socket_path)
        tmp = socket_path.with_name(f".{socket_path.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        super().__init__(str(tmp), _Handler)
        os.chmod(tmp, 0o660)
        os.replace(tmp, socket_path)  # clients never see a half-set-up socket

    def server_close(self) -> None:
        super().server_close()
        with contextlib.suppress(OSError):
            if self.socket_path.is_socket():
                self.socket_path.unlink()


def claim_socket_path(path: Path) -> None:
    """Refuse a path another live embedder serves; remove a stale socket left by a killed one."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ValueError(f"socket path {path} is longer than {MAX_SOCKET_PATH} bytes (set FMS_EMBEDDER_SOCKET)")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not path.is_socket():
        raise ValueError(f"{path} exists and is not a socket")
    try:
        ping(path, timeout_s=1.0)
    except EmbedderError:
        path.unlink()  # nobody answers: a previous run died without cleaning up
        return
    raise ValueError(f"another embedder already serves {path}")


def serve(socket_path: Path, model_path: Path, tokenizer_path: Path, threads: int = 1,
          stop: threading.Event | None = None, on_ready: Callable[[EmbedServer], None] | None = None) -> None:
    """Load the model, then answer on ``socket_path`` until ``stop`` is set (SIGTERM in ``fms embedder``)."""
    model = LoadedModel(model_path, tokenizer_path, threads)
    model.load()  # eagerly: the first query should not pay the load, and /ready should see it
    stop = stop or threading.Event()
    server = EmbedServer(socket_path, model)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="embed-server",
                              daemon=True)
    thread.start()
    log.info("embedder serving on %s", socket_path)
    if on_ready is not None:
        on_ready(server)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- the client ------------------------------------------------------------------------------
def _call(socket_path: Path, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """One request and its reply within ``timeout_s`` seconds overall (connect included)."""
    deadline = time.monotonic() + timeout_s
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(socket_path))
            send_message(sock, request)
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            reply = recv_message(sock)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise EmbedderError("unavailable", f"the embedder is not running (no server on {socket_path})") from exc
    except TimeoutError as exc:
        raise EmbedderError("unavailable", f"the embedder did not answer within {timeout_s:g} s") from exc
    except (OSError, ValueError) as exc:
        raise EmbedderError("unavailable", f"the embedder connection failed: {exc}") from exc
    if not isinstance(reply, dict):
        raise EmbedderError("unavailable", "the embedder closed the connection without a reply")
    return reply


def ping(socket_path: Path, timeout_s: float = 0.5) -> dict[str, Any]:
    """The embedder's status (``loaded``, ``model_sha256``, ``error``); raises when nobody answers."""
    return _call(socket_path, {"op": "ping"}, timeout_s)


def embed(socket_path: Path, texts: list[str], timeout_s: float = 2.0, *, bulk: bool = False) -> Embedding:
    """Unit vectors for ``texts`` from the embedder process; :class:`EmbedderError` when it cannot.

    ``bulk`` (the AI worker): any number of texts, sent in requests of at most
    :data:`MAX_BULK_TEXTS` texts / :data:`MAX_BULK_REQUEST` bytes, each within
    ``timeout_s``, that yield to interactive queries; the vectors all come from one model.
    """
    if not bulk:
        return _embed_once(socket_path, {"op": "embed", "texts": texts}, timeout_s)
    vectors: list[list[float]] = []
    sha: str | None = None
    for group in bulk_groups(texts):
        got = _embed_once(socket_path, {"op": "embed", "texts": group, "priority": "bulk"}, timeout_s)
        if sha is not None and got.model_sha256 != sha:
            raise EmbedderError("unavailable", "the embedder switched models between two requests; send it again")
        sha = got.model_sha256
        vectors.extend(got.vectors)
    if sha is None:
        raise EmbedderError("bad_request", "texts must be a non-empty list of strings")
    return Embedding(vectors=vectors, model_sha256=sha)


def bulk_groups(texts: list[str]) -> list[list[str]]:
    """``texts`` cut into consecutive requests within the bulk bounds (count and JSON bytes)."""
    groups: list[list[str]] = []
    cur: list[str] = []
    size = 0
    for text in texts:
        n = len(json.dumps(text)) + 1
        if cur and (len(cur) >= MAX_BULK_TEXTS or size + n > MAX_BULK_REQUEST):
            groups.append(cur)
            cur, size = [], 0
        cur.append(text)
        size += n
    return [*groups, cur] if cur else groups


def _embed_once(socket_path: Path, request: dict[str, Any], timeout_s: float) -> Embedding:
    reply = _call(socket_path, request, timeout_s)
    if not reply.get("ok"):
        err = reply.get("error") or {}
        code = "bad_request" if err.get("code") == "bad_request" else "unavailable"
        raise EmbedderError(code, str(err.get("message") or "the embedder refused the request"))
    return Embedding(vectors=reply["vectors"], model_sha256=reply["model_sha256"])
