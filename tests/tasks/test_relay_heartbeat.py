"""The relay beats like a worker: a real ``fms relay`` shows on the API's /metrics as
``fms_worker_last_heartbeat_timestamp_seconds{process="relay", queue="outbox"}``, which
FmsWorkerHeartbeatMissing watches (monitoring/tests/alerts_test.yml has its case)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from flask import Flask

from app.settings import Settings
from tasks.relay import HEARTBEAT_QUEUE
from tests.helpers import RedisServer, wait_for
from tests.helpers import heartbeats_on_metrics as beats
from tests.tasks.conftest import VENV_BIN, worker_env

ROOT = Path(__file__).resolve().parents[2]


def test_a_running_relay_beats_into_metrics_and_its_last_beat_outlives_it(
        app: Flask, settings: Settings, redis_server: RedisServer, tmp_path: Path) -> None:
    client = app.test_client()
    assert beats(client) == {}, "nothing has beaten into this Redis yet"
    started = time.time()
    with (tmp_path / "relay.log").open("wb") as log:
        proc = subprocess.Popen([str(VENV_BIN / "fms"), "relay"], env=worker_env(settings, FMS_PROCESS="relay"),
                                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        try:
            first = wait_for(lambda: beats(client), timeout=30, what="the relay's heartbeat on /metrics")
            assert set(first) == {("relay", HEARTBEAT_QUEUE)} and HEARTBEAT_QUEUE == "outbox"
            assert started - 1 <= first[("relay", "outbox")] <= time.time() + 1
            second = wait_for(lambda: beats(client)[("relay", "outbox")] > first[("relay", "outbox")]
                              and beats(client)[("relay", "outbox")], timeout=10, what="a second beat")
            assert second - first[("relay", "outbox")] < 10, "it beats every second or so, like a worker"
            assert not redis_server.client(0).keys("fms:heartbeat:*"), "no worker key: /ready counts workers"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    assert proc.returncode == 0, (tmp_path / "relay.log").read_text(errors="replace")
    after = beats(client)
    assert set(after) == {("relay", "outbox")} and after[("relay", "outbox")] >= second, \
        "the last beat stays exported for the alert"
