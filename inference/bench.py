"""Grid benchmarks of model configurations and a deterministic report.

Grid: GGUF files (quantizations) x threads x n_batch; ONNX files (fp32/int8) x
threads x graph optimisation level. Each configuration runs in a fresh spawned
process (so peak RSS and CPU time belong to that configuration alone): load,
warm-up, then >= 5 measured repetitions.

The report is a pure function of the measurements (``build_report``): sorted,
fixed float formatting, no clock reads — the same measurements always give
byte-identical JSON/CSV/HTML/text. Constraints such as ``p95_ms<2000`` or
``tokens_per_s>20`` are evaluated per configuration; the selection takes the
configurations that meet every constraint, then the fastest, then the smallest
peak RSS, then the label (so ties resolve deterministically), and says why.
"""

from __future__ import annotations

import csv
import html
import io
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inference.models.defaults import sha256_file

DEFAULT_PROMPT = ("Text: My laptop won't turn on since this morning and I have a deadline today. "
                  "Order AB-48213.\nQuestion: What is the product?\nAnswer:")
DEFAULT_TEXTS = [f"Support ticket {i}: the printer on floor {i % 5} keeps jamming every few pages."
                 for i in range(32)]
CONSTRAINT_RE = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|<|>|==)\s*([0-9.eE+-]+)\s*$")
HIGHER_IS_BETTER = {"tokens_per_s", "items_per_s", "prompt_tokens_per_s"}


@dataclass(frozen=True)
class BenchConfig:
    """One grid point. ``kind``: gguf | onnx. ``params``: threads, n_batch / graph_optimization."""

    kind: str
    model_path: str
    params: tuple = ()
    tokenizer_path: str | None = None

    @property
    def label(self) -> str:
        p = ",".join(f"{k}={v}" for k, v in self.params)
        return f"{self.kind}:{Path(self.model_path).name}[{p}]"

    def param(self, key: str, default=None):
        return dict(self.params).get(key, default)


def gguf_grid(models: list[str], threads: list[int], n_batch: list[int]) -> list[BenchConfig]:
    """Quantization (one file per quantization) x threads x batch size."""
    return [BenchConfig("gguf", str(m), (("n_batch", b), ("threads", t)))
            for m in models for t in threads for b in n_batch]


def onnx_grid(models: list[str], tokenizer: str, threads: list[int], levels: list[str]) -> list[BenchConfig]:
    """fp32/int8 files x threads x graph optimisation level."""
    return [BenchConfig("onnx", str(m), (("graph_optimization", g), ("threads", t)), tokenizer)
            for m in models for t in threads for g in levels]


# ---------------------------------------------------------------------------------------
# measuring (child process)
# ---------------------------------------------------------------------------------------
def _measure_child(cfg: BenchConfig, warmup: int, reps: int, prompt: str, max_tokens: int,
                   texts: list[str]) -> dict:
    t_load = time.perf_counter()
    if cfg.kind == "gguf":
        from inference.engines.llama import LlamaConfig, LlamaEngine

        llama = LlamaEngine(cfg.model_path, LlamaConfig(n_threads=cfg.param("threads", 2),
                                                        n_batch=cfg.param("n_batch", 256), warmup=False))
        close = llama.close

        def once() -> tuple[float, int, int]:
            llama.llm.reset()  # measure prefill every time, not the prompt cache
            out = llama.complete(prompt, max_tokens=max_tokens)
            return out.total_ms, out.gen_tokens, out.prompt_tokens
    else:
        from inference.engines.onnx import OnnxConfig, OnnxEmbedder

        if cfg.tokenizer_path is None:
            raise ValueError("an onnx configuration needs tokenizer_path")
        embedder = OnnxEmbedder(cfg.model_path, cfg.tokenizer_path,
                                OnnxConfig(threads=cfg.param("threads", 2),
                                           graph_optimization=cfg.param("graph_optimization", "all")))
        close = embedder.close

        def once() -> tuple[float, int, int]:
            t = time.perf_counter()
            embedder.embed(texts)
            return (time.perf_counter() - t) * 1000, len(texts), 0
    load_ms = (time.perf_counter() - t_load) * 1000
    for _ in range(warmup):
        once()
    cpu0, wall0 = os.times(), time.perf_counter()
    lat, units, prompt_tokens = [], 0, 0
    for _ in range(reps):
        ms, n, p = once()
        lat.append(ms)
        units += n
        prompt_tokens = p
    wall = time.perf_counter() - wall0
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    close()
    return {"latencies_ms": lat, "units": units, "prompt_tokens": prompt_tokens, "load_ms": load_ms,
            "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(cfg: BenchConfig, *, warmup: int = 1, reps: int = 5, prompt: str = DEFAULT_PROMPT,
            max_tokens: int = 32, texts: list[str] | None = None, timeout_s: float = 600) -> dict:
    """Run one configuration in a fresh spawned process; returns a measurement row."""
    if reps < 5:
        raise ValueError("at least 5 measured repetitions")
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        raw = pool.apply_async(_measure_child, (cfg, warmup, reps, prompt, max_tokens,
                                                texts or DEFAULT_TEXTS)).get(timeout_s)
    return summarize_measurement(cfg, raw)


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (deterministic, no interpolation surprises)."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))
    return s[k]


def summarize_measurement(cfg: BenchConfig, raw: dict) -> dict:
    lat = raw["latencies_ms"]
    total_s = sum(lat) / 1000
    row = {
        "label": cfg.label, "kind": cfg.kind, "model": Path(cfg.model_path).name,
        "params": dict(cfg.params), "reps": len(lat),
        "latency_ms": {"mean": statistics.mean(lat), "p50": _pct(lat, 0.5), "p95": _pct(lat, 0.95),
                       "p99": _pct(lat, 0.99), "min": min(lat), "max": max(lat)},
        "load_ms": raw["load_ms"], "peak_rss_mb": raw["peak_rss_mb"],
        "cpu_percent": 100.0 * raw["cpu_s"] / raw["wall_s"] if raw["wall_s"] else 0.0,
    }
    if cfg.kind == "gguf":
        row["tokens_per_s"] = raw["units"] / total_s if total_s else 0.0
        row["prompt_tokens"] = raw["prompt_tokens"]
    else:
        row["items_per_s"] = raw["units"] / total_s if total_s else 0.0
    return row


# ---------------------------------------------------------------------------------------
# host facts
# ---------------------------------------------------------------------------------------
def host_facts(model_paths: list[str]) -> dict:
    """CPU model, cores, library versions and the sha256 of every benchmarked file."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("llama_cpp", "onnxruntime", "numpy", "tokenizers"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    affinity: int | None
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {"cpu_model": cpu, "cores": os.cpu_count(), "usable_cores": affinity,
            "python": platform.python_version(), "platform": platform.platform(), "versions": versions,
            "models": {Path(p).name: sha256_file(Path(p)) for p in sorted(set(model_paths))}}


# ---------------------------------------------------------------------------------------
# constraints, selection, report (pure)
# ---------------------------------------------------------------------------------------
def parse_constraint(text: str) -> tuple[str, str, float]:
    m = CONSTRAINT_RE.match(text)
    if not m:
        raise ValueError(f"bad constraint {text!r}; expected e.g. 'p95_ms<2000' or 'tokens_per_s>20'")
    return m.group(1), m.group(2), float(m.group(3))


def metric(row: dict, name: str) -> float | None:
    """Look up ``p95_ms`` (latency), ``tokens_per_s``, ``peak_rss_mb``, ``cpu_percent``…"""
    m = re.fullmatch(r"(mean|p50|p95|p99|min|max)_ms", name)
    if m:
        return row["latency_ms"][m.group(1)]
    value = row.get(name)
    return float(value) if isinstance(value, (int, float)) else None


def check(row: dict, constraint: str) -> dict:
    name, op, limit = parse_constraint(constraint)
    value = metric(row, name)
    ok = value is not None and {"<": value < limit, "<=": value <= limit, ">": value > limit,
                                ">=": value >= limit, "==": value == limit}[op]
    return {"constraint": constraint, "metric": name, "value": value, "ok": bool(ok)}


def _speed(row: dict) -> float:
    return row.get("tokens_per_s", row.get("items_per_s", 0.0))


def _f(x: float | None, nd: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def select(rows: list[dict], constraints: list[str]) -> dict:
    """Constraints first, then speed, then memory, then label."""
    if not rows:
        return {"label": None, "reason": "no configurations were measured"}
    scored = []
    for r in rows:
        checks = [check(r, c) for c in constraints]
        fails = sum(not c["ok"] for c in checks)
        scored.append((fails, -round(_speed(r), 6), round(r["peak_rss_mb"], 3), r["label"], r))
    scored.sort(key=lambda s: s[:4])
    fails, _, _, label, best = scored[0]
    passing = [s for s in scored if s[0] == 0]
    unit = "tokens/s" if "tokens_per_s" in best else "items/s"
    if constraints and fails == 0:
        why = (f"meets all {len(constraints)} constraint(s) ({', '.join(constraints)}); fastest of "
               f"{len(passing)} passing configuration(s) at {_f(_speed(best))} {unit}")
    elif constraints:
        why = (f"no configuration meets every constraint; this one fails the fewest ({fails}) and is "
               f"fastest among those at {_f(_speed(best))} {unit}")
    else:
        why = f"no constraints given; fastest at {_f(_speed(best))} {unit}"
    ties = [s for s in (passing or scored) if s[0] == fails and round(_speed(s[4]), 6) == round(_speed(best), 6)]
    if len(ties) > 1:
        why += f"; tie on speed broken by lower peak RSS ({_f(best['peak_rss_mb'])} MB)"
    return {"label": label, "reason": why, "params": best["params"], "model": best["model"]}


@dataclass
class BenchReport:
    """Everything needed to render; ``to_*`` are pure functions of these fields."""

    host: dict
    constraints: list[str]
    results: list[dict]
    selection: dict
    checks: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(_round(self.to_dict()), indent=2, sort_keys=True) + "\n"

    def rows(self) -> list[dict]:
        out = []
        for r in self.results:
            out.append({
                "label": r["label"], "kind": r["kind"], "model": r["model"],
                "params": ";".join(f"{k}={v}" for k, v in sorted(r["params"].items())),
                "reps": r["reps"], "mean_ms": _f(r["latency_ms"]["mean"]), "p50_ms": _f(r["latency_ms"]["p50"]),
                "p95_ms": _f(r["latency_ms"]["p95"]), "p99_ms": _f(r["latency_ms"]["p99"]),
                "speed": _f(_speed(r)), "unit": "tokens/s" if "tokens_per_s" in r else "items/s",
                "peak_rss_mb": _f(r["peak_rss_mb"]), "cpu_percent": _f(r["cpu_percent"]),
                "constraints_ok": "yes" if all(c["ok"] for c in self.checks.get(r["label"], [])) else "no",
                "selected": "yes" if r["label"] == self.selection.get("label") else "",
            })
        return out

    def to_csv(self) -> str:
        rows = self.rows()
        buf = io.StringIO()
        fields = list(rows[0]) if rows else ["label"]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

    def technical_text(self) -> str:
        h = self.host
        lines = ["# Benchmark report (technical)",
                 f"host: {h.get('cpu_model')} | cores {h.get('cores')} (usable {h.get('usable_cores')})"
                 f" | python {h.get('python')}",
                 "versions: " + ", ".join(f"{k}={v}" for k, v in sorted(h.get("versions", {}).items())),
                 *[f"model {k} sha256 {v}" for k, v in sorted(h.get("models", {}).items())],
                 "constraints: " + (", ".join(self.constraints) or "none"), "",
                 f"{'configuration':<64} {'mean':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'speed':>9} "
                 f"{'unit':<8} {'rssMB':>7} {'cpu%':>6} ok"]
        for r in self.rows():
            lines.append(f"{r['label']:<64} {r['mean_ms']:>8} {r['p50_ms']:>8} {r['p95_ms']:>8} "
                         f"{r['p99_ms']:>8} {r['speed']:>9} {r['unit']:<8} {r['peak_rss_mb']:>7} "
                         f"{r['cpu_percent']:>6} {r['constraints_ok']}{' *' if r['selected'] else ''}")
        lines += ["", f"selected: {self.selection.get('label')}", f"reason: {self.selection.get('reason')}"]
        return "\n".join(lines) + "\n"

    def simple_text(self) -> str:
        sel = next((r for r in self.results if r["label"] == self.selection.get("label")), None)
        if sel is None:
            return "No configuration could be measured.\n"
        unit = "tokens (word pieces) per second" if "tokens_per_s" in sel else "texts per second"
        ok = all(c["ok"] for c in self.checks.get(sel["label"], []))
        return "\n".join([
            "# Benchmark summary",
            f"Best setting: {sel['model']} with " + ", ".join(f"{k} {v}" for k, v in sorted(sel["params"].items())),
            f"Typical response time: {_f(sel['latency_ms']['p50'] / 1000, 2)} s "
            f"(slowest 5 %: {_f(sel['latency_ms']['p95'] / 1000, 2)} s).",
            f"Speed: {_f(_speed(sel))} {unit}. Memory: {_f(sel['peak_rss_mb'], 0)} MB.",
            ("It meets all your requirements." if ok else "It does NOT meet all your requirements.")
            if self.constraints else "No requirements were given.",
            f"Why: {self.selection.get('reason')}", ""])

    def to_html(self) -> str:
        rows = self.rows()
        head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0] if rows else {}))
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>"
                       for r in rows)
        return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Benchmark report</title></head><body>"
                f"<h1>Benchmark report</h1><pre>{html.escape(self.simple_text())}</pre>"
                f"<table border=\"1\"><tr>{head}</tr>{body}</table>"
                f"<pre>{html.escape(self.technical_text())}</pre></body></html>\n")


def _round(obj):
    """Fixed precision for floats so JSON text does not depend on float noise in the last digits."""
    if isinstance(obj, float):
        return round(obj, 3)
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj


def build_report(results: list[dict], constraints: list[str], host: dict) -> BenchReport:
    """Pure: same inputs -> identical report. Rows sorted by label. One engine kind per report
    (tokens/s and items/s are not comparable, so a GGUF and an ONNX grid are two reports)."""
    for c in constraints:
        parse_constraint(c)
    kinds = {r["kind"] for r in results}
    if len(kinds) > 1:
        raise ValueError(f"one engine kind per report, got {sorted(kinds)}")
    rows = sorted(results, key=lambda r: r["label"])
    checks = {r["label"]: [check(r, c) for c in constraints] for r in rows}
    return BenchReport(host=host, constraints=list(constraints), results=rows,
                       selection=select(rows, constraints), checks=checks)


def run_grid(configs: list[BenchConfig], constraints: list[str] | None = None, *, warmup: int = 1,
             reps: int = 5, prompt: str = DEFAULT_PROMPT, max_tokens: int = 32,
             texts: list[str] | None = None, progress=None) -> BenchReport:
    """Measure every configuration (each in its own process) and build the report."""
    results = []
    for i, cfg in enumerate(configs):
        results.append(measure(cfg, warmup=warmup, reps=reps, prompt=prompt, max_tokens=max_tokens, texts=texts))
        if progress:
            progress({"phase": "config_done", "done": i + 1, "of": len(configs), "label": cfg.label})
    host = host_facts([c.model_path for c in configs])
    return build_report(results, constraints or [], host)


def write_report(report: BenchReport, out_dir: str | os.PathLike[str], stem: str = "report") -> dict[str, Path]:
    """Write JSON, CSV, HTML and both text views; returns the paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    files = {"json": report.to_json(), "csv": report.to_csv(), "html": report.to_html(),
             "technical.txt": report.technical_text(), "simple.txt": report.simple_text()}
    paths = {}
    for ext, text in files.items():
        p = d / f"{stem}.{ext}"
        p.write_text(text)
        paths[ext] = p
    return paths


def requantize(src: str | os.PathLike[str], dst: str | os.PathLike[str], qtype: str = "Q4_0",
               threads: int = 2) -> Path:
    """Write another quantization of a GGUF with llama.cpp's quantizer (for the quantization axis).

    Re-quantizing an already-quantized file loses a little quality; prefer an F16
    source when one exists. ``qtype`` is a llama.cpp file type name (Q4_0, Q5_K_M, Q8_0…).
    """
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}", None)
    if ftype is None:
        raise ValueError(f"unknown quantization {qtype!r}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    params.allow_requantize = True
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed with code {rc}")
    return Path(dst)


def main(argv: list[str] | None = None) -> int:
    """``python -m inference.bench --gguf M.gguf --threads 1,2 --n-batch 64,256 -c 'p95_ms<2000' --out DIR``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m inference.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", nargs="*", default=[], help="GGUF files (one per quantization)")
    ap.add_argument("--onnx", nargs="*", default=[], help="ONNX files (fp32 and/or int8)")
    ap.add_argument("--tokenizer", help="tokenizer.json for --onnx")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--n-batch", default="64,256")
    ap.add_argument("--graph", default="basic,all", help="ONNX graph optimisation levels")
    ap.add_argument("-c", "--constraint", action="append", default=[])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--out", default="bench-results/models")
    args = ap.parse_args(argv)
    threads = [int(x) for x in args.threads.split(",")]
    reports = []

    def applicable(kind: str) -> list[str]:
        """tokens/s constraints concern the GGUF grid, items/s the ONNX grid; latency/RSS both."""
        other = {"gguf": ("items_per_s",), "onnx": ("tokens_per_s", "prompt_tokens_per_s")}[kind]
        return [c for c in args.constraint if parse_constraint(c)[0] not in other]

    if args.gguf:
        cfgs = gguf_grid(args.gguf, threads, [int(x) for x in args.n_batch.split(",")])
        reports.append(("gguf", run_grid(cfgs, applicable("gguf"), warmup=args.warmup, reps=args.reps,
                                         max_tokens=args.max_tokens, progress=lambda p: print(p, flush=True))))
    if args.onnx:
        if not args.tokenizer:
            ap.error("--onnx needs --tokenizer")
        cfgs = onnx_grid(args.onnx, args.tokenizer, threads, args.graph.split(","))
        reports.append(("onnx", run_grid(cfgs, applicable("onnx"), warmup=args.warmup, reps=args.reps,
                                         progress=lambda p: print(p, flush=True))))
    for stem, rep in reports:
        paths = write_report(rep, args.out, stem)
        print(rep.technical_text())
        print(rep.simple_text())
        print("wrote", ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
