#!/usr/bin/env python3
"""Duplicate detection over many submissions on 2 cores: time per stage and recall vs exact fp32.

Texts: synthetic but varied submissions (13 kinds of request, each with 3-4 phrasings and
slot values: items, places, days, amounts, names), ``--dup-rate`` of them re-submissions
of an earlier text (another phrasing of the same slots, a reordered or shortened copy,
typos, a courtesy line). Stages, each timed:
1. embed every text with the default embedder (``--threads``, length buckets);
2. embed them with the exact fp32 MiniLM (the reference; skipped when the default is it);
3. ``duplicate_groups`` on the default's vectors at ``--threshold``.
Recall = pairs (i<j, cosine >= threshold) found with the default's vectors among those the
fp32 vectors give; precision the other way round.

When ``--n`` is below 100 000 the report extrapolates embedding linearly and grouping
quadratically, and also times the grouping on a 100 000-row matrix made of rotated copies
of the real vectors (each copy keeps the real similarity structure; copies are mutually
near-orthogonal, so no pair is invented) — ``--group-n``.

Usage: .venv/bin/python scripts/bench/duplicates.py [--n 100000] [--threads 2] [--json ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from inference.embeddings import duplicate_groups, duplicate_pairs  # noqa: E402
from inference.engines.onnx import OnnxConfig, OnnxEmbedder  # noqa: E402
from inference.models.defaults import ensure_default_models, ensure_fp32_minilm  # noqa: E402

SLOTS = {
    "item": ["laptop", "printer", "monitor", "phone", "headset", "docking station", "keyboard", "tablet", "router",
             "scanner", "projector", "webcam"],
    "place": ["room 101", "the second floor", "building C", "the reception", "the warehouse", "the canteen",
              "meeting room B", "the library", "the north wing", "the car park", "the lab", "office 214"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "yesterday",
            "this morning", "last night"],
    "amount": ["12.50", "48", "199", "1,250", "75", "320", "19.99", "2,400", "60", "5"],
    "name": ["Anna", "Ravi", "Chen", "Maria", "Tom", "Fatima", "Lukas", "Aisha", "Pedro", "Yuki", "Omar", "Sara"],
    "num": ["2", "3", "4", "5", "10", "12", "20", "45"],
}
#: Each kind: several phrasings of the same request (a re-submission may use another one).
KINDS = [
    ["My {item} stopped working {day} and I cannot do my job.",
     "Since {day} the {item} is broken, so I am unable to work.",
     "The {item} has not worked since {day}; please help, I can't get anything done.",
     "{day}: {item} dead, can't work, need a fix."],
    ["The heating in {place} is not working and it is very cold.",
     "It is freezing in {place} because the heating is off.",
     "No heating in {place} at the moment, it's really cold in here."],
    ["I was charged {amount} twice for the same order.",
     "My card was billed {amount} two times for one order.",
     "Double charge of {amount} on my account for a single order, please refund one."],
    ["Please register {num} people for the workshop on {day}.",
     "I would like to book {num} places at the {day} workshop.",
     "Sign up {num} attendees for the workshop ({day}), thanks."],
    ["{name} slipped on a wet floor in {place} and hurt a wrist.",
     "In {place} {name} fell on the wet floor and injured a wrist.",
     "Wet floor in {place}: {name} slipped and has a sore wrist."],
    ["There is water leaking from the ceiling in {place}.",
     "Water is dripping through the ceiling of {place}.",
     "Leak in the ceiling at {place}, water coming through."],
    ["I would like to take {num} days of annual leave starting {day}.",
     "Requesting {num} days of holiday from {day} on.",
     "Could I have {num} days off beginning {day}?"],
    ["The {item} in {place} makes a loud noise when it starts.",
     "A loud noise comes from the {item} in {place} every time it starts up.",
     "The {item} at {place} is very noisy on start-up."],
    ["My parcel with the {item} was marked delivered {day} but never arrived.",
     "Tracking said the {item} was delivered {day}, yet I never got it.",
     "The {item} I ordered shows as delivered since {day} but nothing came."],
    ["Someone stole a {item} from {place} {day}.",
     "A {item} was stolen from {place} {day}.",
     "{day} a {item} went missing from {place}, we think it was stolen."],
    ["Can you send me an invoice for {amount} for my company?",
     "I need an invoice of {amount} made out to my company.",
     "Please issue a company invoice for the {amount} I paid."],
    ["{name} needs access to the shared drive for {place}.",
     "Please give {name} access to the {place} shared folder.",
     "Access request: shared drive of {place} for {name}."],
    ["The lights in {place} flicker all the time and give me a headache.",
     "Constant flickering lights in {place} are giving me headaches.",
     "In {place} the lights keep flickering, it causes headaches."],
]
EXTRAS = ["", "", "", " Thanks.", " Please help.", " This is the second time.", " Urgent!",
          " It happened before too.", " Kind regards."]


def _fill(template: str, slots: dict[str, str]) -> str:
    text = template.format(**slots)
    return text[0].upper() + text[1:]


def _typos(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(1, len(chars) - 1)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def synthetic_submissions(n: int, dup_rate: float, seed: int = 0) -> list[str]:
    """``n`` varied submission texts, ``dup_rate`` of them re-submissions of an earlier one."""
    rng = random.Random(seed)
    texts: list[str] = []
    made: list[tuple[int, dict[str, str]]] = []
    for _ in range(n):
        if made and rng.random() < dup_rate:
            kind, slots = made[rng.randrange(len(made))]
            how = rng.random()
            if how < 0.5:  # another phrasing of the same request
                text = _fill(rng.choice(KINDS[kind]), slots)
            elif how < 0.8:
                text = _typos(rng, _fill(KINDS[kind][0], slots)) + rng.choice(EXTRAS)
            else:
                text = _fill(KINDS[kind][0], slots).lower()
        else:
            kind = rng.randrange(len(KINDS))
            slots = {k: rng.choice(v) for k, v in SLOTS.items()}
            made.append((kind, slots))
            text = _fill(rng.choice(KINDS[kind]), slots) + rng.choice(EXTRAS)
        texts.append(text)
    return texts


def timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def rotated_copies(vecs: np.ndarray, total: int, seed: int = 0) -> np.ndarray:
    """``total`` rows: ``vecs`` and copies rotated by random orthogonal matrices (see module doc)."""
    rng = np.random.default_rng(seed)
    parts, have = [vecs], len(vecs)
    while have < total:
        q, _ = np.linalg.qr(rng.normal(size=(vecs.shape[1], vecs.shape[1])))
        parts.append((vecs @ q).astype(np.float32))
        have += len(vecs)
    return np.concatenate(parts)[:total]


def embed_both(paths: dict, fp32: Path, texts: list[str], cfg: OnnxConfig, res: dict) -> tuple:
    """Vectors of the default embedder and of the exact fp32 model, each stage timed into ``res``."""
    vecs, res["embed_s"] = timed(OnnxEmbedder(paths["embedder"], paths["tokenizer"], cfg).embed, texts)
    print(f"embed ({paths['embedder'].name}): {res['embed_s']:.1f} s, {len(texts) / res['embed_s']:.1f} texts/s",
          flush=True)
    if Path(paths["embedder"]).resolve() == Path(fp32).resolve():
        res["embed_fp32_s"] = 0.0
        return vecs, vecs
    ref, res["embed_fp32_s"] = timed(OnnxEmbedder(fp32, paths["tokenizer"], cfg).embed, texts)
    print(f"embed (fp32 reference): {res['embed_fp32_s']:.1f} s", flush=True)
    return vecs, ref


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--group-n", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=None, help="default: FMS_DUPLICATE_THRESHOLD's default")
    ap.add_argument("--dup-rate", type=float, default=0.05)
    ap.add_argument("--json", default=str(ROOT / "bench-results" / "duplicates.json"))
    ap.add_argument("--cache", default="", help="directory: save the vectors there, or reuse them")
    args = ap.parse_args()
    if args.threshold is None:
        from app.settings import Settings

        args.threshold = Settings().duplicate_threshold
    paths = ensure_default_models(os.environ.get("FMS_DATA_DIR", ROOT / "var"))
    fp32 = ensure_fp32_minilm(paths["models_dir"])
    texts = synthetic_submissions(args.n, args.dup_rate)
    res: dict = {"n": args.n, "threads": args.threads, "threshold": args.threshold, "dup_rate": args.dup_rate,
                 "embedder": paths["embedder"].name, "loadavg_before": [round(x, 2) for x in os.getloadavg()],
                 "mean_chars": round(sum(map(len, texts)) / len(texts), 1)}
    cfg = OnnxConfig(threads=args.threads)
    cache = Path(args.cache) / f"vectors-{args.n}-{args.dup_rate}.npz" if args.cache else None
    if cache is not None and cache.exists():
        saved = np.load(cache)
        vecs, ref = saved["vecs"], saved["ref"]
        res.update({"embed_s": float(saved["embed_s"]), "embed_fp32_s": float(saved["embed_fp32_s"]),
                    "vectors_from_cache": True})
    else:
        vecs, ref = embed_both(paths, fp32, texts, cfg, res)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, vecs=vecs, ref=ref, embed_s=res["embed_s"], embed_fp32_s=res["embed_fp32_s"])
    groups, res["group_s"] = timed(duplicate_groups, vecs, list(range(args.n)), args.threshold)
    print(f"duplicate_groups: {res['group_s']:.1f} s, {len(groups)} groups", flush=True)
    found = np.unique(duplicate_pairs(vecs, args.threshold) @ np.array([args.n, 1]))  # pair i<j as i*n+j
    exact = np.unique(duplicate_pairs(ref, args.threshold) @ np.array([args.n, 1]))
    both = len(np.intersect1d(found, exact, assume_unique=True))
    res.update({"groups": len(groups), "largest_group": max(map(len, groups), default=0),
                "grouped_items": sum(map(len, groups)), "pairs_default": len(found), "pairs_fp32": len(exact),
                "recall_vs_fp32": round(both / len(exact), 4) if len(exact) else 1.0,
                "precision_vs_fp32": round(both / len(found), 4) if len(found) else 1.0})
    if args.n < 100_000:
        k = 100_000 / args.n
        res["extrapolated_100k"] = {"embed_s": round(res["embed_s"] * k, 1),
                                    "group_s": round(res["group_s"] * k * k, 1)}
    if args.group_n > args.n:
        big = rotated_copies(vecs, args.group_n)
        _, res["group_s_at_group_n"] = timed(duplicate_groups, big, list(range(args.group_n)), args.threshold)
        res["group_n"] = args.group_n
        print(f"duplicate_groups on {args.group_n} rows: {res['group_s_at_group_n']:.1f} s", flush=True)
    res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(res, indent=2))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
