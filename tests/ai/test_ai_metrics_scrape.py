"""The path Prometheus scrapes, as systemd runs it: the inference histograms of a real ``worker-ai``
process reach the API's ``/metrics`` although the two write different multiprocess directories."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.ai.conftest import THREADS
from tests.ai.test_ai_api import NARRATIVE
from tests.ai.test_ai_capacity import FILL_SCHEMA
from tests.helpers import ROOT, VENV_BIN, RedisServer, free_port, gunicorn_server, wait_for

ADMIN = ("admin", "scrape-test-pass")


@contextmanager
def ai_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``dramatiq tasks.worker`` serving ``ai``, the command line of the process tree's worker-ai row."""
    with log.open("wb") as out:
        proc = subprocess.Popen([str(VENV_BIN / "dramatiq"), "tasks.worker", "--processes", "1", "--threads", "1",
                                 "--queues", "ai"], cwd=ROOT, env={**env, "FMS_PROCESS": "worker-ai"},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(families: dict[str, Any], sample: str, **labels: str) -> float:
    family = families[sample.removesuffix("_count").removesuffix("_sum").removesuffix("_total")]
    return sum(s.value for s in family.samples if s.name == sample and labels.items() <= s.labels.items())


@pytest.mark.slow
def test_worker_ai_histograms_reach_the_api_metrics_under_systemd_layout(
        tmp_path: Path, redis_server: RedisServer, model_paths: dict[str, Path]) -> None:
    redis_server.client(0).flushall()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR" and not k.startswith("FMS_")}
    env.update({"FMS_DATA_DIR": str(data), "REDIS_URL": redis_server.url, "FMS_SECRET_KEY": "k",
                "FMS_ENV": "test", "FMS_WEB_WORKERS": "2", "FMS_BOOTSTRAP_ADMIN": ":".join(ADMIN),
                "FMS_LLM_MODEL": str(model_paths["llm"]), "FMS_EMBED_MODEL": str(model_paths["embedder"]),
                "FMS_EMBED_TOKENIZER": str(model_paths["tokenizer"]), "FMS_AI_THREADS": str(THREADS),
                "FMS_WORKER_TIMEOUT_MS": "200"})
    api_dir = tmp_path / "run-fms-api"  # the api unit's Environment=PROMETHEUS_MULTIPROC_DIR=/run/fms-api
    api_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(api_dir)}
    with gunicorn_server(api_env, free_port(), log_path=tmp_path / "api.log") as base, \
            ai_worker(env, tmp_path / "worker.log") as worker:
        token = requests.post(f"{base}/api/v1/auth/login", json=dict(zip(("username", "password"), ADMIN, strict=True)),
                              timeout=10).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        form = requests.post(f"{base}/api/v1/forms", json={"title": "Incidents", "schema": FILL_SCHEMA},
                             headers=auth, timeout=10).json()
        resp = requests.post(f"{base}/api/v1/forms/{form['id']}/fill", json={"text": NARRATIVE}, headers=auth,
                             timeout=10)
        assert resp.status_code == 202, resp.text

        def finished() -> dict[str, Any] | None:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            rec = requests.get(f"{base}/api/v1/tasks/{resp.json()['task_id']}", headers=auth, timeout=10).json()
            return rec if rec["state"] in {"succeeded", "failed", "dead"} else None

        task = wait_for(finished, 240, interval=0.2, what="the worker-ai process to run the fill")
        assert task["state"] == "succeeded", task
        job = task["result"]["metrics"]
        assert list((data / "prometheus").glob("histogram_*.db")), "the worker writes its own directory"

        text = requests.get(f"{base}/metrics", timeout=10).text
        types = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE "))
        assert not [name for name, n in types.items() if n > 1]  # one family per name, or Prometheus drops all
        fams = _families(text)
        model = model_paths["llm"].name
        assert _value(fams, "fms_ai_inference_seconds_count", kind="fill", model=model) == 1
        assert _value(fams, "fms_ai_inference_seconds_sum", kind="fill", model=model) == pytest.approx(
            job["total_ms"] / 1000, abs=1e-3)
        assert _value(fams, "fms_ai_llm_calls_sum", kind="fill", model=model) == job["llm_calls"]
        assert _value(fams, "fms_ai_model_load_seconds_count", engine="llama", model=model) == 1
        assert _value(fams, "fms_ai_queue_wait_seconds_count", kind="fill") == 1
        assert _value(fams, "fms_task_run_seconds_count", queue="ai", actor="ai.fill") == 1
        assert _value(fams, "fms_http_requests_total", endpoint="/api/v1/forms/<form_id>/fill") >= 1

        ready = requests.get(f"{base}/ready", timeout=10).json()["checks"]
        assert ready["model"]["loaded"] is True and ready["ai_queue"]["depth"] == 0
