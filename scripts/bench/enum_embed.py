#!/usr/bin/env python3
"""Experiment (issue 9 §3): choose enum options and yes/no booleans by embedding similarity.

Why: the filler's enum choice was pulled toward one option on unseen forms. This measures,
without touching the product, whether MiniLM similarity between an option's words and the
narrative's sentences would choose better than what ``inference.fill`` answers today,
especially for options the text states in other words.

Method, per single-choice field (plain ``enum``, ``oneOf``+``const``+``title``) and boolean:

* option text = ``"<field label>: <option words / title>"`` (booleans: the label for ``true``,
  ``"no <label>"`` / ``"not <label>"`` for ``false``);
* the narrative is cut into sentences and clauses; an option's raw score is its best cosine
  over those units, minus its mean cosine to neutral texts (removes the favourite-option prior);
* the best option is chosen if its margin over the runner-up >= ``margin`` and its calibrated
  score >= ``floor``; else the field is omitted. Both thresholds are fitted per kind
  (enum, boolean) by grid search on one group of splits and reported on the other.

Only the tuning splits are reachable (``TUNING``); the blind split is never read.

Usage: .venv/bin/python scripts/bench/enum_embed.py
       --fill dev=/tmp/fill_dev.json --fill seen-forms=... [--json out.json] [--threads 2]
(``--fill`` takes ``scripts/bench/fill_eval.py --split <split> --json <file>`` outputs; without
them only the embedding chooser is scored.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from inference.fill import enum_options  # noqa: E402
from scripts.bench.fill_eval import load, load_forms, norm, pct  # noqa: E402

#: the only splits this experiment may read (the blind heldout-forms split is not among them)
TUNING = ("dev", "seen-forms", "seen-forms-2", "seen-forms-3")
DIRECTIONS = (("dev", "seen-forms"), ("seen-forms-2", "seen-forms-3"))
NEUTRAL = ("", "n/a", "I am writing to fill in this form.")
#: filler methods that come from the language model rather than from words in the text
LLM_METHODS = {"llm-likelihood", "lexical+llm", "grammar"}
MARGINS = np.round(np.arange(0.0, 0.2001, 0.005), 4)
FLOORS = np.round(np.arange(-0.1, 0.5001, 0.01), 4)


@dataclass
class Field:
    """One choice field of one form: its options (values) and the texts embedded for them."""

    form: str
    name: str
    kind: str  # "enum" | "boolean"
    values: list
    texts: list[str]


@dataclass
class Item:
    """One (narrative, field) pair with its calibrated option scores."""

    split: str
    rid: str
    form: str
    name: str
    kind: str
    values: list
    scores: np.ndarray
    expected: object = None  # None: the field is not expected
    literal: bool = False  # the expected option's words occur in the text as written
    top: tuple = field(init=False)  # (best value, best score, margin over the runner-up)

    def __post_init__(self) -> None:
        order = np.argsort(-self.scores)
        best = float(self.scores[order[0]])
        second = float(self.scores[order[1]]) if len(order) > 1 else -1.0
        self.top = (self.values[order[0]], best, best - second)


def _words(s: str) -> str:
    return re.sub(r"[_\-]+", " ", str(s)).strip()


def label(name: str, spec: dict) -> str:
    """What the field is about, in words: its title (else name words) plus its description."""
    head = spec.get("title") or _words(name)
    desc = spec.get("description", "")
    return f"{head} ({desc})" if desc else head


def choice_fields(form: str, schema: dict) -> list[Field]:
    """The single-choice enum and boolean fields of a schema (arrays of options are not single-choice)."""
    out = []
    for name, spec in schema.get("properties", {}).items():
        if not isinstance(spec, dict):
            continue
        lab = label(name, spec)
        typ = spec.get("type")
        single = (isinstance(spec.get("enum"), list) and typ in ("string", None, ["string", "null"])) or \
            (isinstance(spec.get("oneOf"), list) and all(isinstance(o, dict) and "const" in o for o in spec["oneOf"]))
        if single:  # the options as the filler reads them, plus an opaque constant's own words
            said = enum_options(spec)
            texts = [f"{lab}: {words}" + (f" ({_words(v)})" if _words(v).lower() not in words.lower() else "")
                     for v, words in said.items()]
            out.append(Field(form, name, "enum", list(said), texts))
        elif typ == "boolean" or typ == ["boolean", "null"]:
            out.append(Field(form, name, "boolean", [True, False], [lab, f"no {lab}; not {lab}"]))
    return out


def units(text: str) -> list[str]:
    """Sentences and their clauses: an option is usually stated in a part of one sentence."""
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    clauses = [c.strip() for s in sents
               for c in re.split(r"[,;:]|\b(?:and|but|because|so|while|although|which)\b", s)]
    seen: dict[str, None] = {}
    for u in sents + clauses:
        if len(u) >= 3:
            seen.setdefault(u, None)
    return list(seen) or [text]


def literal(text: str, f: Field, value: object) -> bool:
    """Whether the option's own words appear in the text (the easy case for any lexical matcher)."""
    if f.kind != "enum" or value is None:
        return False
    return _words(value).casefold() in text.casefold()


class Chooser:
    """Embeds options and narrative units with the in-process int8 MiniLM; scores options."""

    def __init__(self, threads: int = 2) -> None:
        from inference.engines.onnx import OnnxConfig, OnnxEmbedder
        from inference.models.defaults import ensure_default_models

        rss0 = rss_mb()
        paths = ensure_default_models(os.environ.get("FMS_DATA_DIR", ROOT / "var"))
        self.embedder = OnnxEmbedder(paths["embedder"], paths["tokenizer"], OnnxConfig(threads=threads))
        self.rss_increase_mb = rss_mb() - rss0
        self.neutral = self.embedder.embed(list(NEUTRAL))
        self.fill_ms: list[float] = []

    def score(self, text: str, fields: list[Field]) -> list[np.ndarray]:
        """Calibrated scores per field: best cosine over units minus mean cosine to neutral texts.

        Options are embedded per fill (no cache), so the time recorded is pessimistic.
        """
        us = units(text)
        t0 = time.perf_counter()
        opts = [t for f in fields for t in f.texts]
        vecs = self.embedder.embed(us + opts)
        self.fill_ms.append((time.perf_counter() - t0) * 1000)
        u, o = vecs[: len(us)], vecs[len(us):]
        raw = (o @ u.T).max(axis=1) - (o @ self.neutral.T).mean(axis=1)
        out, i = [], 0
        for f in fields:
            out.append(raw[i: i + len(f.values)])
            i += len(f.values)
        return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def items_for(chooser: Chooser, split: str, rows: list[dict], schemas: dict[str, dict]) -> list[Item]:
    out = []
    for row in rows:
        fields = choice_fields(row["form"], schemas[row["form"]])
        if not fields:
            continue
        for f, sc in zip(fields, chooser.score(row["text"], fields), strict=True):
            exp = row["expected"].get(f.name)
            out.append(Item(split, row["id"], f.form, f.name, f.kind, f.values, sc, exp,
                            literal(row["text"], f, exp)))
    return out


def choose(it: Item, margin: float, floor: float) -> object:
    """The best option if it clears both thresholds, else None (omit)."""
    value, best, lead = it.top
    return value if lead >= margin and best >= floor else None


@dataclass
class Counts:
    right: int = 0
    wrong: int = 0
    omitted: int = 0
    invented: int = 0
    preds: dict[str, Counter] = field(default_factory=dict)

    def add(self, key: str, expected: object, got: object) -> None:
        if expected is None and got is None:
            return
        if got is not None:
            self.preds.setdefault(key, Counter())[str(got)] += 1
        if expected is None:
            self.invented += 1
        elif got is None:
            self.omitted += 1
        elif norm(expected) == norm(got):
            self.right += 1
        else:
            self.wrong += 1

    @property
    def total(self) -> int:
        return self.right + self.wrong + self.omitted + self.invented

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    def summary(self) -> dict:
        shares = {k: round(c.most_common(1)[0][1] / sum(c.values()), 3) for k, c in sorted(self.preds.items())
                  if sum(c.values()) >= 3}
        return {"right": self.right, "wrong": self.wrong, "omitted": self.omitted, "invented": self.invented,
                "fields": self.total, "accuracy": round(self.accuracy, 4),
                "top_option_share_mean": round(float(np.mean(list(shares.values()))), 3) if shares else None,
                "top_option_share_max": max(shares.values()) if shares else None,
                "top_option_share": shares}


Predict = Callable[[Item], object]


def tally(items: list[Item], predict: Predict) -> Counts:
    c = Counts()
    for it in items:
        c.add(f"{it.form}.{it.name}", it.expected, predict(it))
    return c


def fit(items: list[Item], make: Callable[[float, float], Predict]) -> tuple[float, float]:
    """(margin, floor) with the best accuracy on ``items``; ties go to the larger thresholds (omit more)."""
    best = (-1.0, 0.0, 0.0)
    for m in MARGINS:
        for fl in FLOORS:
            acc = tally(items, make(float(m), float(fl))).accuracy
            if acc >= best[0]:
                best = (acc, float(m), float(fl))
    return best[1], best[2]


def filler_answers(paths: dict[str, str]) -> dict[tuple[str, str], tuple[dict, dict]]:
    """(split, record id) -> (answers, methods) from fill_eval --json outputs."""
    out = {}
    for path in paths.values():
        for rec in json.loads(Path(path).read_text())["records"]:
            out[(rec["split"], rec["id"])] = (rec["answers"], rec.get("methods", {}))
    return out


def predictors(fill: dict, th: dict[str, tuple[float, float]], th_combo: dict[str, tuple[float, float]]
               ) -> dict[str, Predict]:
    def emb(it: Item, t=th) -> object:
        return choose(it, *t[it.kind])

    def current(it: Item) -> object:
        return fill.get((it.split, it.rid), ({}, {}))[0].get(it.name)

    def combo(it: Item) -> object:
        answers, methods = fill.get((it.split, it.rid), ({}, {}))
        if it.name in answers and lexical(methods.get(it.name)):
            return answers[it.name]
        return choose(it, *th_combo[it.kind])

    preds: dict[str, Predict] = {"embedding": emb}
    if fill:
        preds |= {"filler": current, "combination": combo}
    return preds


def plain_maker(m: float, fl: float) -> Predict:
    return lambda it: choose(it, m, fl)


def lexical(method: str | None) -> bool:
    """Whether a filler answer came from words in the text (not from the language model)."""
    return method is not None and not method.startswith("llm") and method not in LLM_METHODS


def combo_maker(fill: dict, kind_th: dict) -> Callable[[float, float], Predict]:
    def make(m: float, fl: float) -> Predict:
        def p(it: Item) -> object:
            answers, methods = fill.get((it.split, it.rid), ({}, {}))
            if it.name in answers and lexical(methods.get(it.name)):
                return answers[it.name]
            return choose(it, m, fl)
        return p
    return make


def report(items: list[Item], preds: dict[str, Predict]) -> dict:
    out: dict = {}
    for kind in ("enum", "boolean", "all"):
        sub = [it for it in items if kind in ("all", it.kind)]
        out[kind] = {name: tally(sub, p).summary() for name, p in preds.items()}
    para = [it for it in items if it.kind == "enum" and it.expected is not None and not it.literal]
    out["enum_in_other_words"] = {name: tally(para, p).summary() for name, p in preds.items()}
    return out


def run(chooser: Chooser, fill_paths: dict[str, str]) -> dict:
    fill = filler_answers(fill_paths)
    items: dict[str, list[Item]] = {}
    for split in TUNING:
        schemas, _ = load_forms(split)
        items[split] = items_for(chooser, split, load(split), schemas)
    result: dict = {"embed_ms_per_fill": {"p50": round(pct(chooser.fill_ms, 0.5), 1),
                                          "p95": round(pct(chooser.fill_ms, 0.95), 1),
                                          "fills": len(chooser.fill_ms)},
                    "embedder_rss_increase_mb": round(chooser.rss_increase_mb, 1),
                    "filler_splits": sorted(fill_paths), "directions": []}
    for fit_on in DIRECTIONS:
        report_on = tuple(s for s in TUNING if s not in fit_on)
        train = [it for s in fit_on for it in items[s]]
        th, th_combo = {}, {}
        for kind in ("enum", "boolean"):
            sub = [it for it in train if it.kind == kind]
            th[kind] = fit(sub, plain_maker)
            if fill:
                th_combo[kind] = fit(sub, combo_maker(fill, th))
        preds = predictors(fill, th, th_combo or th)
        result["directions"].append({
            "fit_on": list(fit_on), "thresholds": {k: {"margin": v[0], "floor": v[1]} for k, v in th.items()},
            "combination_thresholds": {k: {"margin": v[0], "floor": v[1]} for k, v in th_combo.items()},
            "in_sample": report(train, preds),
            "report": {s: report(items[s], preds) for s in report_on},
        })
    return result


def print_table(result: dict) -> None:
    e = result["embed_ms_per_fill"]
    print(f"embedding per fill p50 {e['p50']} ms p95 {e['p95']} ms over {e['fills']} fills; "
          f"embedder RSS +{result['embedder_rss_increase_mb']} MB")
    for d in result["directions"]:
        print(f"\nfit on {'+'.join(d['fit_on'])}: thresholds {d['thresholds']} "
              f"combination {d['combination_thresholds']}")
        for split, rep in [("in-sample", d["in_sample"]), *d["report"].items()]:
            for kind in ("enum", "boolean", "enum_in_other_words"):
                for name, s in rep[kind].items():
                    print(f"  {split:13} {kind:20} {name:12} right {s['right']:4} wrong {s['wrong']:4} "
                          f"omitted {s['omitted']:4} invented {s['invented']:4} acc {s['accuracy']:.3f} "
                          f"top-share mean {s['top_option_share_mean']} max {s['top_option_share_max']}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fill", action="append", default=[], metavar="SPLIT=PATH",
                    help="fill_eval --json output for a tuning split (repeatable)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    fill_paths = dict(a.split("=", 1) for a in args.fill)
    bad = [s for s in fill_paths if s not in TUNING]
    if bad:
        raise SystemExit(f"--fill split(s) {bad} not among the tuning splits {TUNING}")
    result = run(Chooser(args.threads), fill_paths)
    print_table(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
