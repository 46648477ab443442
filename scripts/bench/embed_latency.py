#!/usr/bin/env python3
"""A ``similar`` query's latency on the shared embedder while a bulk request (the AI worker's) runs.

Two servers on the real MiniLM, one engine thread each, in turn: ``one-lock`` holds the
engine for a whole request (what the embedder did before bulk requests), ``gate`` is the
shipped :class:`inference.embed_server.LoadedModel` (one length-bucketed batch per turn,
waiting queries first). For each: 5 idle queries, then one bulk request of ``n`` texts with
queries sent back to back until it is done. Prints the bulk time and the queries' latencies.

Usage: .venv/bin/python scripts/bench/embed_latency.py [--sizes 50,256] [--words 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from inference.embed_server import EmbedServer, LoadedModel, embed  # noqa: E402
from inference.models.defaults import ensure_default_models  # noqa: E402
from scripts.bench.common import wait_for  # noqa: E402

SENTENCE = "the printer on the second floor jams when I print more than two pages again"


class OneLock(LoadedModel):
    """The engine held for a whole request: a query waits for all of a bulk request."""

    def embed(self, texts: list[str], bulk: bool = False) -> dict[str, Any]:
        with self.gate.hold(interactive=not bulk):
            self.load()
            self.batches_run += 1
            vectors = self.engine.embed(texts)
            return {"ok": True, "model_sha256": self.sha256, "dim": 384, "vectors": vectors.tolist()}


def texts(n: int, words: int) -> list[str]:
    return [" ".join([f"case {i}:", *(SENTENCE.split() * 40)[: words - i % 7]]) for i in range(n)]


def run(cls: type[LoadedModel], paths: dict[str, Path], n: int, words: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fms-lat-", dir="/tmp") as d:
        sock = Path(d) / "e.sock"
        model = cls(paths["embedder"], paths["tokenizer"], threads=1)
        model.load()
        server = EmbedServer(sock, model)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        idle = []
        for _ in range(5):
            t0 = time.perf_counter()
            embed(sock, ["cannot sign in"], 30)
            idle.append(time.perf_counter() - t0)
        result: dict[str, float] = {}
        start = model.batches_run

        def bulk() -> None:
            t0 = time.perf_counter()
            embed(sock, texts(n, words), 600, bulk=True)
            result["s"] = time.perf_counter() - t0

        worker = threading.Thread(target=bulk)
        worker.start()
        wait_for(lambda: model.batches_run > start, 60, "the bulk request to hold the engine", interval=0.002)
        lat = []
        while worker.is_alive():
            t0 = time.perf_counter()
            embed(sock, ["cannot sign in"], 600)
            lat.append(time.perf_counter() - t0)
        worker.join()
        server.shutdown()
        server.server_close()
    name = "one-lock" if cls is OneLock else "gate"
    print(f"{name:8s} n={n:3d} words={words}: idle median {statistics.median(idle) * 1000:.0f} ms; "
          f"bulk {result['s']:.2f} s; {len(lat)} queries during it: median {statistics.median(lat) * 1000:.0f} ms, "
          f"max {max(lat) * 1000:.0f} ms", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50,256", help="bulk request sizes (texts)")
    ap.add_argument("--words", type=int, default=40, help="words per text (~1.3 tokens each)")
    args = ap.parse_args()
    paths = ensure_default_models(ROOT / "var")
    for n in (int(x) for x in args.sizes.split(",")):
        for cls in (OneLock, LoadedModel):
            run(cls, paths, n, args.words)
    return 0


if __name__ == "__main__":
    sys.exit(main())
