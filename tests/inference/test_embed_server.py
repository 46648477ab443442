"""The shared query embedder: a real server on a real Unix socket with the real MiniLM model."""

from __future__ import annotations

import math
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.embed_server import (
    HEADER,
    MAX_BULK_TEXTS,
    EmbedderError,
    EmbedServer,
    LoadedModel,
    bulk_groups,
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
    with server.model.gate.hold(interactive=True):  # a long query holds the engine
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


BASE_TEXT = "the printer on the second floor jams when I print more than two pages again"


def _texts(n: int, words: int) -> list[str]:
    """``n`` distinct texts of about ``words`` words (lengths vary, so the engine buckets them)."""
    base = BASE_TEXT.split()
    return [" ".join([f"case {i}:", *(base * 20)[: words - i % 7]]) for i in range(n)]


def test_a_bulk_request_keeps_order_and_matches_the_engine(served: tuple[Path, EmbedServer], embedder) -> None:
    sock, server = served
    texts = _texts(MAX_BULK_TEXTS + 44, 12)  # two requests: the client splits at MAX_BULK_TEXTS
    assert [len(g) for g in bulk_groups(texts)] == [MAX_BULK_TEXTS, 44]
    before = server.model.batches_run
    got = embed(sock, texts, timeout_s=120, bulk=True)
    assert len(got.vectors) == len(texts)
    assert server.model.batches_run - before >= len(texts) // 16  # one engine batch per turn, 16 texts at most
    direct = embedder.embed(texts)
    for remote, local in zip(got.vectors, direct.tolist(), strict=True):
        assert math.isclose(sum(a * b for a, b in zip(remote, local, strict=True)), 1.0, abs_tol=1e-4)


def test_bulk_bounds_and_priority_are_checked(served: tuple[Path, EmbedServer]) -> None:
    sock, _ = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(30)
        conn.connect(str(sock))
        for bad in ({"op": "embed", "texts": ["a"] * (MAX_BULK_TEXTS + 1), "priority": "bulk"},
                    {"op": "embed", "texts": ["a"], "priority": "urgent"}):
            send_message(conn, bad)
            reply = recv_message(conn)
            assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
        send_message(conn, {"op": "embed", "texts": ["a"] * 17, "priority": "bulk"})  # over the interactive 16
        assert len(recv_message(conn)["vectors"]) == 17
    long_texts = ["\u00e9" * 8_000] * 60  # ensure_ascii: 48 kB of JSON each, so a request holds fewer
    groups = bulk_groups(long_texts)
    assert len(groups) > 1 and sum(map(len, groups)) == 60


def test_a_query_goes_between_the_batches_of_a_long_bulk_request(served: tuple[Path, EmbedServer]) -> None:
    """The query waits for the batch running when it arrives, not for the whole bulk request."""
    sock, server = served
    model = server.model
    texts = _texts(MAX_BULK_TEXTS, 60)  # ~70 tokens each: 13-14 a batch under the 1024-token budget, ~19 batches
    start = model.batches_run
    bulk: dict[str, float] = {}

    def run_bulk() -> None:
        t0 = time.perf_counter()
        embed(sock, texts, timeout_s=300, bulk=True)
        bulk["s"], bulk["done_at"] = time.perf_counter() - t0, time.perf_counter()

    thread = threading.Thread(target=run_bulk, daemon=True)
    thread.start()
    wait_for(lambda: model.batches_run - start >= 2, 120, interval=0.005, what="the bulk request to run")
    asked = model.batches_run - start
    t0 = time.perf_counter()
    assert len(embed(sock, ["cannot sign in"], timeout_s=60).vectors) == 1
    answered_at, query_s = time.perf_counter(), time.perf_counter() - t0
    during = model.batches_run - start - asked  # bulk batches that ran while the query waited
    thread.join(300)
    total = model.batches_run - start - 1  # the query was one batch too
    assert "s" in bulk and total >= 15, (bulk, total)
    assert answered_at < bulk["done_at"], "the query waited for the whole bulk request"
    # the batch under way when it was asked, perhaps the next one (the query still in flight); one lock per
    # request would let all ~19 run first
    assert during <= 3, f"{during} bulk batches ran before the query (of {total}): it did not get priority"
    print(f"query {query_s * 1000:.0f} ms while a {total}-batch bulk request ran ({bulk['s']:.1f} s)")
