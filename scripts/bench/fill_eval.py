#!/usr/bin/env python3
"""Evaluate ``inference.fill`` on tests/data/fill_eval, split by form: field accuracy, validity, latency.

Splits (``SPLITS`` below; a split is a forms folder plus a narratives file):

* ``dev`` — the dev forms (``forms/*.json``) and their narratives (``dev.jsonl``); tuning data;
* ``heldout-narratives`` — new narratives of the dev forms (``heldout.jsonl``);
* ``seen-forms`` — forms written apart from the filler (``seen_forms/*.json``, narratives in
  ``seen_forms.jsonl``); they were held out until scored twice, and are tuning data now;
* ``seen-forms-2`` — the second blind set (``heldout2/*.json``, narratives in ``heldout2.jsonl``):
  scored three times as the held-out split, spent, and tuning data since (its README keeps the
  exposure log);
* ``seen-forms-3`` — the third blind set (``heldout3/*.json``, narratives in ``heldout3.jsonl``):
  scored once as the held-out split, then opened record by record for tuning (its README keeps
  the exposure log);
* ``heldout-forms`` — forms written blind, by someone who saw neither the filler nor its outputs
  (``heldout4/*.json``, narratives in ``heldout4.jsonl``): scored, never tuned on (its README
  keeps the exposure log). ``all`` includes it; tune with
  ``--split dev,seen-forms,seen-forms-2,seen-forms-3``.

Each forms folder has a ``kinds.json`` (``{"<form>": {"<field>": "<kind>"}}``, kinds among name,
place, date, amount, count, code, enum, boolean, free_text, email, phone) so accuracy is reported
per field kind as well as per form. Accuracy counts over the union of expected and predicted
fields, so a wrong value, a missed field and an invented field each count as one error.
``schema_valid`` is validity as a draft (every answer validates; a required field the text does not
support is left out rather than invented); ``complete`` is validity including ``required``. Enum fields
get a per-option confusion table (expected option -> predicted option, ``(none)`` = omitted /
not expected). Latency is wall time per fill (p50/p95) plus CPU time, with the load average, because
the machine is shared and wall time under load is pessimistic.

Usage: .venv/bin/python scripts/bench/fill_eval.py
       [--split dev,heldout-narratives,seen-forms,seen-forms-2,seen-forms-3,heldout-forms|all]
       [--naive] [--threads 2] [--json out.json] [--no-calibrate] [--budget SECONDS] [-v]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from jsonschema import Draft202012Validator  # noqa: E402

DATA = ROOT / "tests" / "data" / "fill_eval"
#: split -> (forms folder, narratives file)
SPLITS = {
    "dev": ("forms", "dev.jsonl"),
    "heldout-narratives": ("forms", "heldout.jsonl"),
    "seen-forms": ("seen_forms", "seen_forms.jsonl"),
    "seen-forms-2": ("heldout2", "heldout2.jsonl"),
    "seen-forms-3": ("heldout3", "heldout3.jsonl"),
    "heldout-forms": ("heldout4", "heldout4.jsonl"),
}
ALIASES = {"heldout": "heldout-narratives"}
NONE = "(none)"


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


def field_results(expected: dict, got: dict) -> list[tuple[str, bool, str | None]]:
    """(field, correct, error) for every field expected or predicted."""
    out = []
    for k in sorted(set(expected) | set(got)):
        if k not in got:
            out.append((k, False, f"missed {k}={expected[k]!r}"))
        elif k not in expected:
            out.append((k, False, f"invented {k}={got[k]!r}"))
        elif norm(expected[k]) != norm(got[k]):
            out.append((k, False, f"wrong {k}: {got[k]!r} != {expected[k]!r}"))
        else:
            out.append((k, True, None))
    return out


def score_record(expected: dict, got: dict) -> tuple[int, int, list[str]]:
    res = field_results(expected, got)
    errors = [e for _, ok, e in res if not ok and e]
    return len(res) - len(errors), len(res), errors


def load(split: str) -> list[dict]:
    """Narratives of one split (``all`` = every split whose file exists)."""
    names = list(SPLITS) if split == "all" else [ALIASES.get(split, split)]
    rows = []
    for name in names:
        path = DATA / SPLITS[name][1]
        if split == "all" and not path.exists():
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                rows.append({**json.loads(line), "split": name})
    return rows


def load_forms(split: str) -> tuple[dict[str, dict], dict[str, dict[str, str]]]:
    """(form name -> schema, form name -> field -> kind) for a split's forms folder."""
    folder = DATA / SPLITS[ALIASES.get(split, split)][0]
    schemas = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.stem != "kinds"}
    kinds_path = folder / "kinds.json"
    kinds = json.loads(kinds_path.read_text()) if kinds_path.exists() else {}
    return schemas, kinds


def draft_valid(schema: dict, answers: dict) -> bool:
    """Valid as a draft: every answer validates; required fields may be left for the person
    (what the store accepts for a draft)."""
    v = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return not [e for e in v.iter_errors(answers) if not (e.validator == "required" and not e.path)]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


@dataclass
class Tally:
    """Counts for one split."""

    ok: int = 0
    total: int = 0
    valid: int = 0
    complete: int = 0
    records: int = 0
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    per_form: dict[str, list[int]] = field(default_factory=dict)
    per_kind: dict[str, list[int]] = field(default_factory=dict)
    confusion: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    llm_calls: list[int] = field(default_factory=list)
    budget_skipped: list[int] = field(default_factory=list)

    def add(self, form: str, kinds: dict[str, str], schema: dict, expected: dict, got: dict) -> list[str]:
        errors = []
        for name, ok, err in field_results(expected, got):
            kind = kinds.get(name, "unknown")
            for bucket, key in ((self.per_form, form), (self.per_kind, kind)):
                cell = bucket.setdefault(key, [0, 0])
                cell[0] += ok
                cell[1] += 1
            self.ok += ok
            self.total += 1
            if err:
                errors.append(err)
        for name, spec in schema.get("properties", {}).items():
            if kinds.get(name) == "enum" and isinstance(spec, dict) and "enum" in spec:
                exp, pred = expected.get(name, NONE), got.get(name, NONE)
                row = self.confusion.setdefault(f"{form}.{name}", {}).setdefault(str(exp), {})
                row[str(pred)] = row.get(str(pred), 0) + 1
        return errors

    def summary(self, name: str) -> dict:
        def ratio(cells: dict[str, list[int]]) -> dict:
            return {k: {"accuracy": round(a / b, 4), "fields": b} for k, (a, b) in sorted(cells.items())}

        return {
            "split": name, "records": self.records, "fields": self.total,
            "field_accuracy": round(self.ok / self.total, 4) if self.total else None,
            "schema_valid": round(self.valid / self.records, 4) if self.records else None,
            "complete": round(self.complete / self.records, 4) if self.records else None,
            "p50_ms": round(pct(self.wall_ms, 0.5), 1), "p95_ms": round(pct(self.wall_ms, 0.95), 1),
            "mean_ms": round(statistics.mean(self.wall_ms), 1),
            "cpu_p50_ms": round(pct(self.cpu_ms, 0.5), 1), "cpu_p95_ms": round(pct(self.cpu_ms, 0.95), 1),
            "llm_calls_mean": round(statistics.mean(self.llm_calls), 2) if self.llm_calls else 0,
            "budget_skipped_fields": sum(self.budget_skipped),
            "budget_hit_fills": sum(1 for n in self.budget_skipped if n),
            "per_kind": ratio(self.per_kind), "per_form": ratio(self.per_form),
            "enum_confusion": self.confusion,
        }


def _splits(arg: str) -> list[str]:
    names = list(SPLITS) if arg == "all" else [ALIASES.get(s.strip(), s.strip()) for s in arg.split(",")]
    bad = [n for n in names if n not in SPLITS]
    if bad:
        raise SystemExit(f"unknown split(s) {bad}; choose from {sorted(SPLITS)} or all")
    return names


def run_split(engine, name: str, args, verbose_out: list[dict]) -> dict:
    from inference.fill import fill, fill_naive

    schemas, kinds = load_forms(name)
    tally = Tally()
    for row in load(name):
        schema = schemas[row["form"]]
        today = dt.date.fromisoformat(row["today"]) if row.get("today") else None
        t0, c0 = time.perf_counter(), time.process_time()
        if args.naive:
            res = fill_naive(engine, schema, row["text"])
        else:
            res = fill(engine, schema, row["text"], calibrate=not args.no_calibrate, today=today,
                       dayfirst=bool(row.get("dayfirst", False)), budget_s=args.budget)
        ms, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        tally.wall_ms.append(ms)
        tally.cpu_ms.append(cpu)
        tally.llm_calls.append(int(res.stats.get("llm_calls", 0)))
        tally.budget_skipped.append(len(res.stats.get("budget_skipped", [])))
        is_valid = draft_valid(schema, res.answers)
        tally.valid += is_valid
        tally.complete += Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(
            res.answers)
        tally.records += 1
        errors = tally.add(row["form"], kinds.get(row["form"], {}), schema, row["expected"], res.answers)
        verbose_out.append({"split": name, "id": row["id"], "ms": round(ms, 1), "valid": is_valid,
                            "errors": errors, "answers": res.answers, "evidence": res.evidence,
                            "methods": res.methods, "stats": res.stats})
        if args.verbose and errors:
            print(f"{row['id']}: {'; '.join(errors)}")
    return tally.summary(name)


def main() -> int:
    from inference.engines.llama import LlamaConfig, LlamaEngine
    from inference.fill import warm_up
    from inference.models.defaults import ensure_default_models

    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev,heldout-narratives",
                    help="comma list of " + ", ".join(SPLITS) + "; or all")
    ap.add_argument("--naive", action="store_true", help="baseline: whole-schema grammar, one prompt")
    ap.add_argument("--no-calibrate", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--budget", type=float, default=None,
                    help="per-fill time budget, seconds (0: none); default FMS_FILL_BUDGET's default")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args()

    names = _splits(args.split)
    if args.budget is None:  # what the product runs with unless configured otherwise
        from app.settings import Settings

        args.budget = float(Settings.__dataclass_fields__["fill_budget"].default)
    paths = ensure_default_models(os.environ.get("FMS_DATA_DIR", ROOT / "var"))
    engine = LlamaEngine(args.model or paths["llm"], LlamaConfig(n_threads=args.threads))
    warm_up(engine)  # as the worker does after loading (EngineProcess)
    load_before = os.getloadavg()
    records: list[dict] = []
    splits = {name: run_split(engine, name, args, records) for name in names}
    report = {
        "strategy": "naive-grammar" if args.naive else "hybrid", "threads": args.threads, "budget_s": args.budget,
        "model": str(engine.model_path.name), "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "splits": splits,
    }
    keys = ("records", "fields", "field_accuracy", "schema_valid", "complete", "p50_ms", "p95_ms", "cpu_p50_ms",
            "cpu_p95_ms", "llm_calls_mean", "budget_skipped_fields", "budget_hit_fills")
    brief = {n: {k: s[k] for k in keys} | {"per_kind": {k: v["accuracy"] for k, v in s["per_kind"].items()}}
             for n, s in splits.items()}
    print(json.dumps({k: v for k, v in report.items() if k != "splits"} | {"splits": brief}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"report": report, "records": records}, indent=2,
                                              ensure_ascii=False))
    engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
