#!/usr/bin/env python3
"""One-shot AI performance check: worker path vs direct llama-cpp-python, fill latency, embeddings/s.

* tokens/s through EngineProcess (child process, pipe, progress) vs a direct
  ``llama_cpp.Llama.create_completion`` on the same model, prompt and threads;
  runs are interleaved so background load hits both alike (goal ratio >= 95 %);
* fill p50/p95 through EngineProcess over tests/data/fill_eval (goal p50 < 2 s);
* embeddings/s of the int8 ONNX path vs sentence-transformers fp32 (PyTorch)
  on the same texts when torch is installed (goal >= 3x, cosine >= 0.99).

Usage: .venv/bin/python scripts/bench/inference.py [--threads 2] [--reps 5] [--json bench-results/inference.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

import inference.engines.llama  # noqa: E402, F401  (sets OMP_WAIT_POLICY before llama_cpp loads)
from inference.engines.onnx import OnnxConfig, OnnxEmbedder  # noqa: E402
from inference.isolation import EngineProcess, EngineSpec  # noqa: E402
from inference.models.defaults import ensure_default_models  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle.\n\nStory:"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def bench_tokens(paths: dict, threads: int, reps: int, max_tokens: int) -> dict:
    from llama_cpp import Llama

    direct = Llama(model_path=str(paths["llm"]), n_ctx=2048, n_batch=256, n_threads=threads,
                   n_threads_batch=threads, seed=0, verbose=False)
    worker = EngineProcess(EngineSpec("llama", str(paths["llm"]), config={"n_threads": threads, "n_batch": 256}))
    d_rates, w_rates = [], []
    try:
        for i in range(reps + 1):  # first round is warm-up
            direct.reset()
            t = time.perf_counter()
            out = direct.create_completion(PROMPT, max_tokens=max_tokens, temperature=0.0, top_k=1)
            d = out["usage"]["completion_tokens"] / (time.perf_counter() - t)
            worker.call("info")
            t = time.perf_counter()
            res = worker.complete(PROMPT + " " * (i % 2), max_tokens=max_tokens)  # defeat the prompt cache
            w = res.gen_tokens / (time.perf_counter() - t)
            if i:
                d_rates.append(d)
                w_rates.append(w)
    finally:
        worker.close()
        direct.close()
    dm, wm = statistics.median(d_rates), statistics.median(w_rates)
    return {"direct_tokens_per_s": round(dm, 2), "worker_tokens_per_s": round(wm, 2),
            "ratio": round(wm / dm, 3), "max_tokens": max_tokens, "reps": reps,
            "direct_all": [round(x, 2) for x in d_rates], "worker_all": [round(x, 2) for x in w_rates]}


def bench_fill(paths: dict, threads: int) -> dict:
    from jsonschema import Draft202012Validator

    data = ROOT / "tests" / "data" / "fill_eval"
    schemas = {p.stem: json.loads(p.read_text()) for p in (data / "forms").glob("*.json")}
    rows = [json.loads(line) for f in ("dev.jsonl", "heldout.jsonl")
            for line in (data / f).read_text().splitlines() if line.strip()]
    lat, valid = [], 0
    with EngineProcess(EngineSpec("llama", str(paths["llm"]), config={"n_threads": threads})) as ep:
        ep.fill(schemas[rows[0]["form"]], rows[0]["text"])  # warm the few-shot prefix cache
        for row in rows:
            t = time.perf_counter()
            res = ep.fill(schemas[row["form"]], row["text"])
            lat.append((time.perf_counter() - t) * 1000)
            valid += Draft202012Validator(schemas[row["form"]],
                                          format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(res.answers)
    return {"records": len(rows), "p50_ms": round(pct(lat, 0.5), 1), "p95_ms": round(pct(lat, 0.95), 1),
            "max_ms": round(max(lat), 1), "validity": round(valid / len(rows), 4)}


def bench_embeddings(paths: dict, threads: int, n: int) -> dict:
    data = ROOT / "tests" / "data" / "fill_eval"
    base = [json.loads(line)["text"] for f in ("dev.jsonl", "heldout.jsonl")
            for line in (data / f).read_text().splitlines() if line.strip()]
    texts = [base[i % len(base)] + ("" if i < len(base) else f" (#{i})") for i in range(n)]
    emb = OnnxEmbedder(paths["embedder"], paths["tokenizer"], OnnxConfig(threads=threads))
    t = time.perf_counter()
    ours = emb.embed(texts)
    ours_s = time.perf_counter() - t
    out = {"texts": n, "onnx_int8_items_per_s": round(n / ours_s, 1)}
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        out["torch"] = "not installed (pip install -r requirements-convert.txt to compare)"
        return out
    torch.set_num_threads(threads)
    from inference.models.defaults import _tokenizer_dir

    st = SentenceTransformer(str(_tokenizer_dir()), device="cpu")
    st.encode(texts[:8], batch_size=32)
    t = time.perf_counter()
    ref = st.encode(texts, batch_size=32, normalize_embeddings=True)
    ref_s = time.perf_counter() - t
    cos = (ours * np.asarray(ref)).sum(axis=1)
    out.update({"torch_fp32_items_per_s": round(n / ref_s, 1), "speedup": round(ref_s / ours_s, 2),
                "cosine_mean": round(float(cos.mean()), 4), "cosine_min": round(float(cos.min()), 4)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--json", default=str(ROOT / "bench-results" / "inference.json"))
    args = ap.parse_args()
    paths = ensure_default_models(os.environ.get("FMS_DATA_DIR", ROOT / "var"))
    load = os.getloadavg()
    result = {"threads": args.threads, "loadavg_before": [round(x, 2) for x in load]}
    result["tokens"] = bench_tokens(paths, args.threads, args.reps, args.max_tokens)
    print("tokens:", json.dumps(result["tokens"]))
    result["fill"] = bench_fill(paths, args.threads)
    print("fill:", json.dumps(result["fill"]))
    result["embeddings"] = bench_embeddings(paths, args.threads, args.texts)
    print("embeddings:", json.dumps(result["embeddings"]))
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
