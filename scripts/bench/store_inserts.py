#!/usr/bin/env python3
"""Submission inserts per second the store sustains, durable (``FULL``) against not (``OFF``).

Why this exists: it tells whether the store (SQLite, its group commit and the disk's
fsync) is what limits ingest, apart from HTTP and the request's own work. It runs the
API's layout (``--procs`` processes x ``--threads`` threads, each thread calling
``insert_submission`` with a submission and its outbox event, as the API does) against
one database file, alternating ``synchronous=FULL`` with ``OFF`` as the baseline in the
same run, and prints inserts/s, CPU per insert and the FULL/OFF ratio (``docs/benchmarks.md``,
issue 10).

    .venv/bin/python scripts/bench/store_inserts.py                  # 5 x 4, 3 rounds of 4 s
    .venv/bin/python scripts/bench/store_inserts.py --rounds 5 --dir /var/lib/fms --json /tmp/si.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.store.sqlite import SQLiteStore
from app.util import new_id, now_iso

MODES = ("FULL", "OFF")  # synchronous: durable, and the baseline without any fsync


def _store(mode: str, path: str) -> SQLiteStore:
    return SQLiteStore(path, mode)


def _submission(form_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    now = now_iso()
    sub = {"id": new_id(), "form_id": form_id, "form_version": 1, "status": "submitted",
           "answers": {"name": "Ada", "email": "ada@example.org", "message": "x" * 600}, "meta": {}, "rev": 1,
           "created_by": None, "created_at": now, "updated_at": now, "deleted_at": None}
    event = {"id": new_id(), "topic": "submission.created", "key": form_id, "payload": {"data": sub},
             "created_at": now, "sent_at": None, "request_id": None}
    return sub, [event]


def _worker(mode: str, path: str, form_id: str, threads: int, seconds: float, out: Any) -> None:
    store = _store(mode, path)
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def run(i: int) -> None:
        while time.monotonic() < deadline:
            sub, events = _submission(form_id)
            store.insert_submission(sub, events, None)
            counts[i] += 1

    cpu = time.process_time()
    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((sum(counts), time.process_time() - cpu))


def _round(mode: str, path: str, form_id: str, procs: int, threads: int, seconds: float) -> dict[str, float]:
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    started = time.perf_counter()
    workers = [ctx.Process(target=_worker, args=(mode, path, form_id, threads, seconds, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    results = [out.get(timeout=seconds + 60) for _ in workers]
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    inserts = sum(n for n, _ in results)
    cpu = sum(c for _, c in results)
    return {"inserts_per_s": inserts / wall, "cpu_ms_per_insert": 1000 * cpu / max(inserts, 1), "inserts": inserts}


def _seed(path: str) -> str:
    store = SQLiteStore(path, "FULL")
    store.migrate()
    form_id = new_id()
    store.create_form({"id": form_id, "owner_id": None, "version": 1, "title": "bench", "description": "",
                       "schema": {"type": "object"}, "settings": {}, "sensitive": [], "created_at": now_iso(),
                       "updated_at": now_iso()})
    return form_id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=5, help="processes (the api's workers; default 5)")
    ap.add_argument("--threads", type=int, default=4, help="threads per process (default 4)")
    ap.add_argument("--seconds", type=float, default=4.0, help="seconds per slice (default 4)")
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds (default 3)")
    ap.add_argument("--dir", default=None, help="where the database goes (default: a temp dir; pick the disk)")
    ap.add_argument("--json", default="bench-results/store_inserts.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "fms.db")
        form_id = _seed(path)
        rounds: list[dict[str, dict[str, float]]] = []
        for r in range(args.rounds):
            row = {}
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                row[mode] = _round(mode, path, form_id, args.procs, args.threads, args.seconds)
                print(f"round {r + 1}/{args.rounds} {mode:4s} {row[mode]['inserts_per_s']:8,.0f} inserts/s  "
                      f"CPU {row[mode]['cpu_ms_per_insert']:.3f} ms/insert  load {os.getloadavg()[0]:.1f}")
            rounds.append(row)
    ratios = [r["FULL"]["inserts_per_s"] / r["OFF"]["inserts_per_s"] for r in rounds]
    summary = {mode: {"inserts_per_s": sum(r[mode]["inserts_per_s"] for r in rounds) / len(rounds),
                      "cpu_ms_per_insert": sum(r[mode]["cpu_ms_per_insert"] for r in rounds) / len(rounds)}
               for mode in MODES}
    print(f"durable / not durable: {sum(ratios) / len(ratios):.2f} x inserts/s "
          f"(rounds {', '.join(f'{x:.2f}' for x in ratios)})")
    result = {"benchmark": "store_inserts", "procs": args.procs, "threads": args.threads, "seconds": args.seconds,
              "rounds": rounds, "summary": summary, "ratio_per_round": ratios, "load_average": os.getloadavg()}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print("wrote", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
