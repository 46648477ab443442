"""The shared query embedder: a real server on a real Unix socket with the real MiniLM model."""

from __future__ import annotations

import math
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.embed_server import (
    HEADER,
    EmbedderError,
    EmbedServer,
    LoadedModel,
    embed,
    ping,
    recv_message,
    send_message,
)
from inference.models.defaults import sha256_file
from tests.helpers import wait_for


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path (sun_path holds 108 bytes; pytest's tmp_path can be longer)."""
    with tempfile.TemporaryDirectory(prefix="fms-es-", dir="/tmp") as d:
        yield Path(d)


def _start(sock: Path, model: LoadedModel) -> tuple[EmbedServer, threading.Thread]:
    server = EmbedServer(sock, model)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


def _stop(server: EmbedServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def served(short_dir: Path, model_paths: dict[str, Path]) -> Iterator[tuple[Path, EmbedServer]]:
    model = LoadedModel(model_paths["embedder"], model_paths["tokenizer"], threads=1)
    model.load()
    sock = short_dir / "e.sock"
    server, thread = _start(sock, model)
    yield sock, server
    _stop(server, thread)


def test_embeds_like_the_engine_and_names_its_model(served: tuple[Path, EmbedServer], embedder,
                                                    model_paths: dict[str, Path]) -> None:
    sock, _ = served
    status = ping(sock)
    assert status["loaded"] is True and status["error"] is None
    assert status["model_sha256"] == sha256_file(model_paths["embedder"])
    texts = ["The printer on the second floor jams.", "I forgot my password."]
    got = embed(sock, texts)
    assert got.model_sha256 == status["model_sha256"] and len(got.vectors) == 2
    direct = embedder.embed(texts)
    for remote, local in zip(got.vectors, direct.tolist(), strict=True):
        assert len(remote) == 384
        assert math.isclose(sum(a * b for a, b in zip(remote, local, strict=True)), 1.0, abs_tol=1e-4)


def test_bad_requests_are_refused_and_the_connection_stays_usable(served: tuple[Path, EmbedServer]) -> None:
    sock, _ = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(sock))
        for bad in ({"op": "nope"}, {"op": "embed", "texts": []}, {"op": "embed", "texts": ["a"] * 17},
                    {"op": "embed", "texts": [1]}, ["not", "an", "object"]):
            send_message(conn, bad)
            reply = recv_message(conn)
            assert reply["ok"] is False and reply["error"]["code"] == "bad_request", (bad, reply)
        send_message(conn, {"op": "ping"})
        assert recv_message(conn)["loaded"] is True
    with pytest.raises(EmbedderError) as err:
        embed(sock, ["x" * 8_001])
    assert err.value.code == "bad_request"


def test_an_oversized_frame_ends_that_connection_only(served: tuple[Path, EmbedServer]) -> None:
    sock, _ = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(sock))
        conn.sendall(HEADER.pack(1 << 30))
        assert conn.recv(1) == b""  # the server hung up instead of reading a GiB
    assert ping(sock)["loaded"] is True


def test_a_busy_embedder_times_out_within_the_callers_budget(served: tuple[Path, EmbedServer]) -> None:
    sock, server = served
    with server.model.lock:  # a long query holds the engine
        with pytest.raises(EmbedderError) as err:
            embed(sock, ["hello"], timeout_s=0.2)
        assert err.value.code == "unavailable" and "did not answer within 0.2 s" in err.value.message
        assert ping(sock, timeout_s=1.0)["loaded"] is True  # ping never waits for the engine
    assert len(embed(sock, ["hello"]).vectors) == 1


def test_no_server_is_unavailable(short_dir: Path) -> None:
    with pytest.raises(EmbedderError) as err:
        embed(short_dir / "nobody.sock", ["hello"])
    assert err.value.code == "unavailable" and "not running" in err.value.message


def test_a_missing_model_is_reported_then_loaded_once_installed(short_dir: Path,
                                                                model_paths: dict[str, Path]) -> None:
    model_file = short_dir / "model.onnx"
    model = LoadedModel(model_file, model_paths["tokenizer"], threads=1, retry_load_s=0.0)
    model.load()
    server, thread = _start(short_dir / "e.sock", model)
    try:
        status = ping(short_dir / "e.sock")
        assert status["loaded"] is False and "missing" in status["error"]
        with pytest.raises(EmbedderError) as err:
            embed(short_dir / "e.sock", ["hello"])
        assert err.value.code == "unavailable" and "no model" in err.value.message
        model_file.symlink_to(model_paths["embedder"])  # the models get installed: no restart needed
        assert len(embed(short_dir / "e.sock", ["hello"]).vectors[0]) == 384
        assert ping(short_dir / "e.sock")["loaded"] is True
    finally:
        _stop(server, thread)


def test_a_stale_socket_is_replaced_and_a_live_one_refused(short_dir: Path, model_paths: dict[str, Path]) -> None:
    sock = short_dir / "e.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))  # a killed embedder leaves its socket file behind
    dead.close()
    model = LoadedModel(model_paths["embedder"], model_paths["tokenizer"], threads=1)
    server, thread = _start(sock, model)
    try:
        wait_for(lambda: ping(sock)["ok"], 5, what="the new server to answer")
        with pytest.raises(ValueError, match="already serves"):
            EmbedServer(sock, model)
    finally:
        _stop(server, thread)
    assert not sock.exists()  # a clean stop removes its socket
    with pytest.raises(ValueError, match="longer than"):
        EmbedServer(Path("/tmp/" + "x" * 120), model)
