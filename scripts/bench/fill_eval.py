#!/usr/bin/env python3
"""Evaluate ``inference.fill`` on tests/data/fill_eval: field accuracy, validity, latency.

Accuracy counts over the union of expected and predicted fields, so a wrong
value, a missed field and an invented field each count as one error.
Usage: .venv/bin/python scripts/bench/fill_eval.py [--split dev|heldout|all] [--naive]
       [--threads 2] [--json out.json] [--no-calibrate]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from jsonschema import Draft202012Validator  # noqa: E402

from inference.engines.llama import LlamaConfig, LlamaEngine  # noqa: E402
from inference.fill import fill, fill_naive, warm_up  # noqa: E402
from inference.models.defaults import ensure_default_models  # noqa: E402

DATA = ROOT / "tests" / "data" / "fill_eval"


def norm(value):
    """Comparison form: case/space/punctuation-insensitive strings, sets for lists."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return frozenset(norm(v) for v in value)
    s = re.sub(r"\s+", " ", str(value)).strip().strip(".,;:!?\"'").casefold()
    return re.sub(r"^the ", "", s)


def score_record(expected: dict, got: dict) -> tuple[int, int, list[str]]:
    keys = sorted(set(expected) | set(got))
    errors = []
    for k in keys:
        if k not in got:
            errors.append(f"missed {k}={expected[k]!r}")
        elif k not in expected:
            errors.append(f"invented {k}={got[k]!r}")
        elif norm(expected[k]) != norm(got[k]):
            errors.append(f"wrong {k}: {got[k]!r} != {expected[k]!r}")
    return len(keys) - len(errors), len(keys), errors


def load(split: str) -> list[dict]:
    files = ["dev.jsonl", "heldout.jsonl"] if split == "all" else [f"{split}.jsonl"]
    rows = []
    for f in files:
        rows += [json.loads(line) for line in (DATA / f).read_text().splitlines() if line.strip()]
    return rows


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="all", choices=["dev", "heldout", "all"])
    ap.add_argument("--naive", action="store_true", help="baseline: whole-schema grammar, one prompt")
    ap.add_argument("--no-calibrate", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()

    paths = ensure_default_models(os.environ.get("FMS_DATA_DIR", ROOT / "var"))
    engine = LlamaEngine(args.model or paths["llm"], LlamaConfig(n_threads=args.threads))
    schemas = {p.stem: json.loads(p.read_text()) for p in (DATA / "forms").glob("*.json")}
    rows = load(args.split)
    warm_up(engine)  # as the worker does after loading (EngineProcess)
    total_ok = total = valid = 0
    latencies, per_form, records = [], {}, []
    for row in rows:
        schema = schemas[row["form"]]
        t0 = time.perf_counter()
        if args.naive:
            res = fill_naive(engine, schema, row["text"])
        else:
            res = fill(engine, schema, row["text"], calibrate=not args.no_calibrate)
        ms = (time.perf_counter() - t0) * 1000
        latencies.append(ms)
        v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        is_valid = v.is_valid(res.answers)
        valid += is_valid
        ok, n, errors = score_record(row["expected"], res.answers)
        total_ok += ok
        total += n
        f = per_form.setdefault(row["form"], [0, 0])
        f[0] += ok
        f[1] += n
        records.append({"id": row["id"], "ok": ok, "fields": n, "ms": round(ms, 1), "valid": is_valid,
                        "errors": errors, "answers": res.answers, "evidence": res.evidence,
                        "methods": res.methods, "stats": res.stats})
        if args.verbose and errors:
            print(f"{row['id']}: {'; '.join(errors)}")
    summary = {
        "split": args.split, "strategy": "naive-grammar" if args.naive else "hybrid",
        "records": len(rows), "fields": total, "field_accuracy": round(total_ok / total, 4),
        "validity": round(valid / len(rows), 4),
        "p50_ms": round(pct(latencies, 0.5), 1), "p95_ms": round(pct(latencies, 0.95), 1),
        "mean_ms": round(statistics.mean(latencies), 1), "threads": args.threads,
        "per_form": {k: round(a / b, 4) for k, (a, b) in sorted(per_form.items())},
        "model": str(engine.model_path.name),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "records": records}, indent=2))
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
