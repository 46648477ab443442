"""Benchmark grid and the deterministic report."""

from __future__ import annotations

import copy
import json

import pytest

from inference.bench import BenchConfig, build_report, measure, onnx_grid, parse_constraint, write_report

HOST = {"cpu_model": "Test CPU", "cores": 2, "usable_cores": 2, "python": "3.11", "versions": {"x": "1"},
        "models": {"m.gguf": "ab" * 32}}


def _row(label: str, p95: float, tps: float, rss: float) -> dict:
    return {"label": label, "kind": "gguf", "model": "m.gguf", "params": {"threads": 2}, "reps": 5,
            "latency_ms": {"mean": p95 * 0.8, "p50": p95 * 0.7, "p95": p95, "p99": p95 * 1.01, "min": 1.0,
                           "max": p95 * 1.02},
            "tokens_per_s": tps, "load_ms": 100.0, "peak_rss_mb": rss, "cpu_percent": 180.123456}


ROWS = [_row("c", 2500.0, 40.0, 300.0), _row("a", 1500.0, 25.0, 400.0), _row("b", 1200.0, 25.0, 350.0),
        _row("d", 900.0, 15.0, 200.0)]


def test_report_is_deterministic_and_sorted():
    r1 = build_report(copy.deepcopy(ROWS), ["p95_ms<2000", "tokens_per_s>20"], HOST)
    r2 = build_report(list(reversed(copy.deepcopy(ROWS))), ["p95_ms<2000", "tokens_per_s>20"], HOST)
    for view in ("to_json", "to_csv", "to_html", "technical_text", "simple_text"):
        assert getattr(r1, view)() == getattr(r2, view)()
    assert [r["label"] for r in r1.results] == ["a", "b", "c", "d"]
    assert json.loads(r1.to_json())["results"][0]["cpu_percent"] == 180.123


def test_selection_constraints_then_speed_then_memory():
    rep = build_report(copy.deepcopy(ROWS), ["p95_ms<2000", "tokens_per_s>20"], HOST)
    # c is fastest but violates p95; a and b tie on speed -> b has less memory; d is too slow
    assert rep.selection["label"] == "b"
    assert "meets all 2 constraint" in rep.selection["reason"]
    assert "peak RSS" in rep.selection["reason"]
    assert [c["ok"] for c in rep.checks["c"]] == [False, True]
    none_ok = build_report(copy.deepcopy(ROWS), ["p95_ms<100"], HOST)
    assert "no configuration meets" in none_ok.selection["reason"]
    assert build_report(copy.deepcopy(ROWS), [], HOST).selection["label"] == "c"


def test_constraint_parsing_and_mixed_kinds():
    assert parse_constraint("p95_ms<2000") == ("p95_ms", "<", 2000.0)
    assert parse_constraint(" tokens_per_s >= 20 ") == ("tokens_per_s", ">=", 20.0)
    with pytest.raises(ValueError):
        parse_constraint("p95 less than 2 s")
    onnx = dict(_row("e", 1.0, 1.0, 1.0), kind="onnx")
    with pytest.raises(ValueError, match="one engine kind"):
        build_report([*copy.deepcopy(ROWS), onnx], [], HOST)


def test_exports_written(tmp_path):
    rep = build_report(copy.deepcopy(ROWS), ["p95_ms<2000"], HOST)
    paths = write_report(rep, tmp_path)
    assert set(paths) == {"json", "csv", "html", "technical.txt", "simple.txt"}
    assert paths["csv"].read_text().splitlines()[0].startswith("label,kind,model")
    assert "<table" in paths["html"].read_text()
    assert "Best setting" in paths["simple.txt"].read_text()


def test_real_onnx_measurement(model_paths):
    cfg = onnx_grid([str(model_paths["embedder"])], str(model_paths["tokenizer"]), [1], ["basic"])[0]
    assert isinstance(cfg, BenchConfig)
    row = measure(cfg, warmup=1, reps=5, texts=["a short text"] * 8)
    assert row["reps"] == 5 and row["items_per_s"] > 0
    assert row["latency_ms"]["p50"] <= row["latency_ms"]["p95"] <= row["latency_ms"]["p99"]
    assert row["peak_rss_mb"] > 50
    with pytest.raises(ValueError):
        measure(cfg, reps=3)


def test_requantize_makes_another_quantization(tmp_path, model_paths):
    from inference.bench import requantize
    from inference.registry import inspect_model

    out = requantize(model_paths["llm"], tmp_path / "q4_0.gguf", "Q4_0")
    assert inspect_model(out, compute_sha256=False).quantization == "Q4_0"
    with pytest.raises(ValueError, match="unknown quantization"):
        requantize(model_paths["llm"], tmp_path / "x.gguf", "Q9_Z")
