"""Model registry (path and streamed upload), benchmarks through the API, and the CLI."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from inference.models.defaults import GEMMA_SHA256, MINILM_INT8_SHA256
from tests.ai.conftest import ai_settings, wait_task
from tests.conftest import Api, make_user_key
from tests.helpers import RedisServer


@pytest.fixture
def settings(tmp_path: Path, redis_server: RedisServer, model_paths: dict[str, Path]) -> Settings:
    """The shared models folder and this test's scratch folder are the model directories."""
    redis_server.client(0).flushall()
    scratch = tmp_path / "models-in"
    scratch.mkdir()
    return ai_settings(tmp_path, redis_server.url, model_paths,
                       model_dirs=f"{model_paths['llm'].parent}, {scratch}")


def test_register_by_path_rejects_a_truncated_gguf_and_accepts_the_real_one(api: Api, tmp_path: Path,
                                                                             model_paths: dict[str, Path]) -> None:
    truncated = tmp_path / "models-in" / "truncated.gguf"
    with model_paths["llm"].open("rb") as src:
        truncated.write_bytes(src.read(4096))
    bad = api.post("/api/v1/models", {"path": str(truncated)})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid_model", bad.json
    assert api.get("/api/v1/models").json["items"] == []

    good = api.post("/api/v1/models", {"path": str(model_paths["llm"]), "name": "gemma"})
    assert good.status_code == 201, good.json
    model = good.json
    assert model["sha256"] == GEMMA_SHA256 and model["format"] == "gguf" and model["name"] == "gemma"
    assert model["quantization"] == "Q4_K_M" and model["size"] == model_paths["llm"].stat().st_size
    listed = api.get("/api/v1/models").json["items"]
    assert [m["id"] for m in listed] == [model["id"]]
    assert api.get(f"/api/v1/models/{model['id']}").json["sha256"] == GEMMA_SHA256
    # the active model cannot be deleted; admins only
    assert api.delete(f"/api/v1/models/{model['id']}").status_code == 409


def test_upload_is_streamed_validated_and_deleted_by_admins_only(api: Api, svc: Any, settings: Any,
                                                                 model_paths: dict[str, Path]) -> None:
    junk = api.post("/api/v1/models", data={"file": (io.BytesIO(b"not a model" * 100), "x.onnx")},
                    content_type="multipart/form-data")
    assert junk.status_code == 422 and junk.json["error"]["code"] == "invalid_model", junk.json
    uploads = Path(settings.data_dir) / "models" / "uploads"
    assert list(uploads.iterdir()) == []  # nothing left behind

    with model_paths["embedder"].open("rb") as fh:
        up = api.post("/api/v1/models", data={"file": (fh, "minilm-int8.onnx"), "name": "minilm"},
                      content_type="multipart/form-data")
    assert up.status_code == 201, up.json
    assert up.json["sha256"] == MINILM_INT8_SHA256 and up.json["format"] == "onnx" and up.json["inputs"]
    stored = Path(up.json["path"])
    assert stored.parent == uploads and stored.stat().st_size == model_paths["embedder"].stat().st_size

    viewer = Api(api.client, make_user_key(svc, "viewer1", "viewer", "read"))
    seen = viewer.get("/api/v1/models")
    assert seen.status_code == 200 and [m["path"] for m in seen.json["items"]] == [None]
    assert viewer.delete(f"/api/v1/models/{up.json['id']}").status_code == 403
    assert viewer.post("/api/v1/models", {"path": str(model_paths["llm"])}).status_code == 403
    assert api.delete(f"/api/v1/models/{up.json['id']}").status_code == 204
    assert not stored.exists()
    assert api.get(f"/api/v1/models/{up.json['id']}").status_code == 404


def test_benchmark_through_the_api(api: Api, worker: Any, model_paths: dict[str, Path]) -> None:
    model = api.post("/api/v1/models", {"path": str(model_paths["embedder"])}).json
    resp = api.post(f"/api/v1/models/{model['id']}/benchmarks",
                    {"threads": [1], "levels": ["all"], "reps": 5, "constraints": ["p95_ms<5000"]})
    assert resp.status_code == 202, resp.json
    bench_id = resp.json["benchmark_id"]
    task = wait_task(api, resp.json["task_id"], timeout=120)
    assert task["state"] == "succeeded", task
    report = api.get(f"/api/v1/benchmarks/{bench_id}")
    assert report.status_code == 200
    data = report.json
    assert len(data["results"]) == 1 and data["results"][0]["reps"] == 5
    assert data["selection"]["label"] == data["results"][0]["label"]
    assert data["host"]["models"] == {"model_int8.onnx": MINILM_INT8_SHA256}
    csv = api.get(f"/api/v1/benchmarks/{bench_id}?format=csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv" and b"p95" in csv.data
    html = api.get(f"/api/v1/benchmarks/{bench_id}?format=html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    # deterministic: the same stored measurements render the same bytes
    assert api.get(f"/api/v1/benchmarks/{bench_id}?format=csv").data == csv.data
    assert api.get(f"/api/v1/benchmarks/{bench_id}?format=pdf").status_code == 400
    assert api.get("/api/v1/benchmarks/nope").status_code == 404


def test_cli_models_add_and_list(settings: Any, tmp_path: Path, model_paths: dict[str, Path]) -> None:
    from tests.tasks.conftest import worker_env

    env = worker_env(settings)
    fms = [str(Path(sys.executable).parent / "fms"), "models"]
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00")
    out = subprocess.run([*fms, "add", str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "invalid_model" in out.stderr
    out = subprocess.run([*fms, "add", str(model_paths["embedder"]), "--name", "minilm"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    listed = subprocess.run([*fms, "list"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and MINILM_INT8_SHA256 in listed.stdout and '"minilm"' in listed.stdout
    bench = subprocess.run([*fms, "bench", str(model_paths["embedder"]), "--threads", "1", "--levels", "all",
                            "--out", str(tmp_path / "report")], env=env, capture_output=True, text=True, timeout=180)
    assert bench.returncode == 0, bench.stderr[-2000:]
    assert "selected: onnx:model_int8.onnx[graph_optimization=all,threads=1]" in bench.stdout
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        "report.csv", "report.html", "report.json", "report.simple.txt", "report.technical.txt"]


def test_uploads_over_the_cap_are_refused_with_413_and_leave_nothing(tmp_path: Path, redis_server: Any,
                                                                     model_paths: dict[str, Path]) -> None:
    from app.factory import create_app
    from tests.ai.conftest import ai_settings
    from tests.conftest import ADMIN_PASSWORD, hash_once, seed_user

    settings = ai_settings(tmp_path, redis_server.url, model_paths, model_upload_max=64 * 1024)
    app = create_app(settings)
    svc = app.extensions["fms"]
    user = seed_user(svc, "boss", "admin", hash_once(ADMIN_PASSWORD))
    key, _ = svc.auth.create_api_key(user["id"], "manage", None, "t", actor="t")
    api = Api(app.test_client(), key)
    big = b"\0" * (200 * 1024)
    raw = api.call("POST", "/api/v1/models?filename=big.onnx", data=big, content_type="application/octet-stream")
    assert raw.status_code == 413, raw.json
    multi = api.post("/api/v1/models", data={"file": (io.BytesIO(big), "big.onnx")}, content_type="multipart/form-data")
    assert multi.status_code == 413, multi.json
    uploads = Path(settings.data_dir) / "models" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    # a raw upload under the cap goes through the same validation
    small = api.call("POST", "/api/v1/models?filename=small.gguf", data=b"GGUF" + b"\1" * 100,
                     content_type="application/octet-stream")
    assert small.status_code == 422 and small.json["error"]["code"] == "invalid_model"


def test_register_by_path_only_inside_the_model_directories(api: Api, tmp_path: Path,
                                                            model_paths: dict[str, Path]) -> None:
    """Outside FMS_MODEL_DIRS every path gets one answer, so the API cannot probe the host's files."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    real_outside = outside / "copy.gguf"
    real_outside.write_bytes(model_paths["llm"].read_bytes()[:4096])
    link = tmp_path / "models-in" / "escape.gguf"
    link.symlink_to(real_outside)
    answers = []
    for path in [str(real_outside), str(outside / "missing.gguf"), "/etc/passwd", str(link),
                 f"{tmp_path}/models-in/../elsewhere/copy.gguf", "~someone/x.gguf", "relative/x.gguf",
                 "/tmp/\0nul.gguf", str(tmp_path / "models-in")]:
        resp = api.post("/api/v1/models", {"path": path})
        assert resp.status_code == 422, (path, resp.json)
        error = resp.json["error"]
        assert error["details"][0]["pointer"] == "/path" and error["request_id"]
        answers.append((error["code"], error["message"]))
    assert set(answers) == {("path_not_allowed",
                             "path must be an absolute path inside a model directory (FMS_MODEL_DIRS)")}
    assert api.get("/api/v1/models").json["items"] == []


def test_multipart_without_a_boundary_is_a_400_and_writes_nothing(api: Api, settings: Any) -> None:
    for content_type in ("multipart/form-data", "multipart/form-data; boundary=xyz"):
        resp = api.call("POST", "/api/v1/models", data=b"not multipart at all", content_type=content_type)
        assert resp.status_code == 400, resp.json
        assert resp.json["error"]["details"][0]["pointer"] == "Content-Type"
    uploads = Path(settings.data_dir) / "models" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert api.get("/api/v1/models").json["items"] == []
