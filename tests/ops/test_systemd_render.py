"""The units are rendered from app/process_tree.py, never edited by hand."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from app.process_tree import CREDENTIALS, PROCESSES, TIMERS, Process
from app.render.systemd import HostConfig, main, render_all, render_service
from tests.ops.conftest import ROOT

UNIT_DIR = ROOT / "systemd"


def _directives(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


def _one(text: str, key: str) -> str:
    values = _directives(text, key)
    assert len(values) == 1, f"{key}= appears {len(values)} times"
    return values[0]


def _process(name: str) -> Process:
    return next(p for p in PROCESSES if p.name == name)


def test_committed_units_equal_a_fresh_render() -> None:
    fresh = render_all()
    committed = {p.name: p.read_text() for p in UNIT_DIR.iterdir() if p.is_file()}
    assert sorted(committed) == sorted(fresh), "run: .venv/bin/python -m app.render.systemd --out systemd"
    for name, text in fresh.items():
        assert committed[name] == text, f"systemd/{name} is stale: re-render it"


def test_every_declared_process_has_a_unit_and_enabled_ones_are_wanted() -> None:
    units = render_all()
    wanted = _one(units["fms.target"], "Wants").split()
    for p in PROCESSES:
        if p.embedded_only:
            assert f"fms-{p.name}.service" not in units
            continue
        assert f"fms-{p.name}.service" in units
        assert (f"fms-{p.name}.service" in wanted) == p.enabled
    for t in TIMERS:
        assert f"fms-{t.name}.timer" in units and f"fms-{t.name}.service" in units


def test_changing_concurrency_in_the_declaration_changes_the_unit() -> None:
    host = HostConfig()
    high = _process("worker-high")
    before = render_service(high, host)
    after = render_service(replace(high, processes="7"), host)
    assert "--processes 7" in after and "--processes 7" not in before
    api = _process("api")
    assert "FMS_WEB_WORKERS=3" in render_service(replace(api, processes="3"), host)
    # the per-host override Ansible passes goes through the same path
    units = render_all(HostConfig(overrides={"worker-default": {"memory_max": "3G"}}))
    assert "MemoryMax=3G" in units["fms-worker-default.service"]


def test_api_worker_count_follows_the_cores_of_its_tier() -> None:
    for cores in (1, 2, 4, 16):
        host = HostConfig(cores=cores)
        text = render_service(_process("api"), host)
        n = len(host.general_cpus())
        assert f"Environment=FMS_WEB_WORKERS={2 * n + 1}" in text


@pytest.mark.parametrize("cores,ai_cores", [(1, 0), (2, 0), (4, 0), (8, 3), (16, 0), (4, 8)])
def test_ai_worker_is_pinned_and_never_quota_starved(cores: int, ai_cores: int) -> None:
    host = HostConfig(cores=cores, ai_cores=ai_cores)
    units = render_all(host)
    ai = units["fms-worker-ai.service"]
    cpus = _one(ai, "AllowedCPUs")
    assert _one(ai, "CPUAffinity") == cpus
    pinned = host.ai_cpus()
    threads = int(re.search(r"FMS_AI_THREADS=(\d+)", ai).group(1))
    assert threads == len(pinned) >= 1
    assert "CPUQuota" not in ai  # the slice carries it
    quota = int(_one(units["fms-ai.slice"], "CPUQuota").rstrip("%"))
    assert quota >= threads * 100
    assert _one(units["fms-ai.slice"], "AllowedCPUs") == cpus
    if cores > 1:  # the other tiers stay off the AI cores
        assert not set(host.general_cpus()) & set(pinned)


def test_service_policies() -> None:
    units = render_all()
    api = units["fms-api.service"]
    assert _one(api, "Type") == "notify"
    reload_steps = _directives(api, "ExecReload")
    assert reload_steps[0].endswith('python -c "import app.wsgi"'), "pre-check must come first"
    assert reload_steps[1] == "/bin/kill -HUP $MAINPID"
    assert _one(api, "OOMPolicy") == "continue"
    for p in PROCESSES:
        if p.embedded_only:
            continue
        text = units[f"fms-{p.name}.service"]
        assert _one(text, "KillMode") == "mixed"
        assert _one(text, "Restart") == "always"
        assert _one(text, "TimeoutStopSec") == str(p.stop_timeout)
        assert _one(text, "User") == "fms"
        assert _one(text, "Slice") == f"fms-{p.tier}.slice"
        assert _one(text, "OOMPolicy") in {"continue", "stop", "kill"}
        assert _one(text, "StateDirectory") == "fms"
        assert _directives(text, "RuntimeDirectory") == ([f"fms-{p.name}"] if p.runtime_dir else [])
        assert _one(text, "LogsDirectory") == "fms"
        assert _one(text, "WorkingDirectory") == "/opt/fms/current"
        if p.memory_max:
            assert _one(text, "MemoryMax") == p.memory_max


def test_slices_carry_cpu_and_memory_limits() -> None:
    units = render_all()
    for name in ("fms.slice", "fms-api.slice", "fms-workers.slice", "fms-ai.slice"):
        text = units[name]
        for key in ("CPUWeight", "CPUQuota", "MemoryHigh", "MemoryMax"):
            assert _directives(text, key), f"{name} lacks {key}="


def test_cli_reports_changes_only_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Ansible's changed_when relies on this: a second render prints nothing."""
    config = tmp_path / "host.json"
    config.write_text('{"cores": 2, "ip_allow": ["localhost"], "slices": {"ai": {"cpu_weight": 10}}}')
    assert main(["--config", str(config), "--out", str(tmp_path / "units")]) == 0
    first = capsys.readouterr().out
    assert "wrote" in first and "fms-api.service" in first
    assert "CPUWeight=10" in (tmp_path / "units" / "fms-ai.slice").read_text()
    (tmp_path / "units" / "fms-gone.service").write_text("[Service]\n")
    assert main(["--config", str(config), "--out", str(tmp_path / "units")]) == 0
    assert capsys.readouterr().out.strip() == f"removed {tmp_path / 'units' / 'fms-gone.service'}"
    assert main(["--config", str(config), "--out", str(tmp_path / "units")]) == 0
    assert capsys.readouterr().out == ""


def test_credentials_are_the_declared_ones_a_host_has() -> None:
    """Ansible names the optional credentials a host has; the file names come from the tree."""
    always = {c.setting: c.file for c in CREDENTIALS if c.always}
    assert HostConfig().credentials == always
    host = HostConfig.from_json({"credentials": ["MONGODB_URI"]})
    assert host.credentials == {**always, "MONGODB_URI": "mongodb_uri"}
    api = render_all(host)["fms-api.service"]
    assert "LoadCredential=mongodb_uri:/etc/fms/credentials/mongodb_uri" in api.splitlines()
    assert "ExecReload=/usr/bin/env -u FMS_SECRET_KEY_FILE -u MONGODB_URI_FILE -u REDIS_URL_FILE" in api
    with pytest.raises(ValueError, match="MONGO_URL"):
        HostConfig.from_json({"credentials": ["MONGO_URL"]})


def test_a_process_loads_only_the_credentials_its_row_names() -> None:
    """The embedder reads model files and a socket: a leak of it must not hand out the key or Redis."""
    declared = {c.setting for c in CREDENTIALS}
    for p in PROCESSES:
        assert p.credentials is None or set(p.credentials) <= declared, p.name
    host = HostConfig.from_json({"credentials": [c.setting for c in CREDENTIALS if not c.always]})
    units = render_all(host)
    embedder = units["fms-embedder.service"]
    assert _directives(embedder, "LoadCredential") == []
    assert not [e for e in _directives(embedder, "Environment") if "_FILE=" in e]
    api = units["fms-api.service"]
    assert len(_directives(api, "LoadCredential")) == len(CREDENTIALS)  # the others keep every one


def test_the_embedder_socket_is_in_a_directory_the_embedder_and_the_api_both_mount() -> None:
    """Default ``<data_dir>/embedder.sock``: the state directory; a runtime directory would be the embedder's
    alone (each unit has its own private root), so the embedder declares none."""
    from app.ai.service import embedder_socket
    from app.render.systemd import DATA_DIR
    from app.settings import Settings

    units = render_all()
    sock = embedder_socket(Settings.from_env(environ={}, dotenv=None, data_dir=Path(DATA_DIR), secret_key="k"))
    for name in ("fms-embedder.service", "fms-api.service"):
        text = units[name]
        mounted = {Path("/var/lib") / d for d in _one(text, "StateDirectory").split()}
        assert sock.parent in mounted, (name, sock)
    assert _directives(units["fms-embedder.service"], "RuntimeDirectory") == []
    assert "RuntimeDirectory" not in (UNIT_DIR / "fms-embedder.service").read_text()  # as committed
