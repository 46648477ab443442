#!/usr/bin/env python3
"""Fill's extractors on the longest text the API accepts, written to be as dense as possible in what
they scan for: how long one fill can hold the AI worker before any model step.

Each adversarial text (1,500 dates; numbers with units and money; capital/digit code groups;
capitalised names) and a baseline — real evaluation narratives repeated to the same length — is
filled by ``inference.fill.fill`` with no engine (deterministic extraction only) on one mixed form
that has a field of every kind, so every extractor and mention scorer runs. Reported: the median
seconds of ``--reps`` fills and the ratio to the baseline in the same run (the machine is shared,
so the ratio is the figure to compare across runs).

Usage: .venv/bin/python scripts/bench/fill_worst_case.py [--chars 20000] [--reps 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: One field of every kind the filler has a path for.
FORM = {
    "type": "object",
    "properties": {
        "full_name": {"type": "string", "title": "Full name"},
        "date_of_birth": {"type": "string", "format": "date"},
        "visit_date": {"type": "string", "format": "date"},
        "end_date": {"type": "string", "format": "date"},
        "guests": {"type": "integer", "minimum": 0},
        "weight_kg": {"type": "number", "title": "Weight (kg)"},
        "amount": {"type": "number", "title": "Amount paid"},
        "booking_ref": {"type": "string", "pattern": "^[A-Z]{2}\\d{4}$"},
        "phone": {"type": "string", "title": "Phone"},
        "city": {"type": "string"},
        "address": {"type": "string"},
        "days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "sat", "sun"]}},
        "priority": {"type": "string", "enum": ["low", "medium", "high"]},
        "notes": {"type": "string", "title": "Anything else"},
    },
}


def _fit(parts: list[str], chars: int) -> str:
    text, i = [], 0
    while sum(map(len, text)) + len(text) < chars:
        text.append(parts[i % len(parts)])
        i += 1
    return " ".join(text)[:chars]


def texts(chars: int) -> dict[str, str]:
    """The adversarial texts and the baseline, each ``chars`` long."""
    rng = random.Random(3)
    narratives = [json.loads(line)["text"] for line in
                  (ROOT / "tests" / "data" / "fill_eval" / "dev.jsonl").read_text().splitlines() if line.strip()]
    return {
        "baseline": _fit(narratives, chars),
        "dates": _fit([f"on {1 + i % 28} March {1990 + i % 30}," for i in range(1500)], chars),
        "numbers": _fit([f"paid ${rng.randrange(10, 9999)}.50 for {rng.randrange(2, 40)} boxes of "
                         f"{rng.randrange(1, 90)} kg," for _ in range(50)], chars),
        "codes": _fit([rng.choice(["QX", "7781", "ZZ3", "K9", "LN 4", "55", "MV", "T0P"]) for _ in range(200)], chars),
        "names": _fit(["met Monica, Sunil and Satish on Wednesdays at St. Mary's, Baker St."], chars),
    }


def time_fill(text: str, reps: int) -> float:
    from inference.fill import fill

    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fill(None, FORM, text)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=0, help="text length (default: the API's MAX_FILL_TEXT)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not args.chars:
        from app.ai.service import MAX_FILL_TEXT

        args.chars = MAX_FILL_TEXT
    load = os.getloadavg()
    seconds = {name: time_fill(text, args.reps) for name, text in texts(args.chars).items()}
    report = {"chars": args.chars, "reps": args.reps, "loadavg_before": [round(x, 2) for x in load],
              "loadavg_after": [round(x, 2) for x in os.getloadavg()],
              "fills": {name: {"seconds": round(s, 3), "x_baseline": round(s / seconds["baseline"], 2)}
                        for name, s in seconds.items()}}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
