"""Monitoring: the alerts fire on their input (promtool unit tests), every query names a metric
something exports, the worker heartbeat gauge is real, and the Alertmanager config is valid.

promtool comes from the Debian package ``prometheus`` (scripts/apt-packages.txt); outside CI a
machine without it skips those checks, in CI (``CI`` set) a missing promtool fails them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from app.factory import create_app
from app.observability.heartbeats import LAST_BEAT_KEY, METRIC, HeartbeatCollector
from app.services import Services
from tests.helpers import RedisServer, free_port, heartbeats_on_metrics, wait_for
from tests.ops.conftest import ROOT, run
from tests.ops.rendering import render_templates
from tests.workers import configure_broker, fresh_settings, running_worker

MONITORING = ROOT / "monitoring"
ALERTS = MONITORING / "alerts.yml"
ALERT_TESTS = MONITORING / "tests" / "alerts_test.yml"
DASHBOARD = MONITORING / "grafana" / "fms-dashboard.json"

# Metrics from outside the fms code that a query may name, and who exports them. Only exporters
# the Ansible roles install count (fms_monitoring: prometheus-node-exporter 1.5 from Debian 12,
# with --collector.systemd); there is no redis exporter on the host, so no redis_* metric.
EXTERNAL_METRICS = {
    "up": "Prometheus itself, per scrape target",
    "node_cpu_seconds_total": "node exporter, cpu collector",
    "node_memory_MemAvailable_bytes": "node exporter, meminfo collector",
    "node_memory_MemTotal_bytes": "node exporter, meminfo collector",
    "node_filesystem_avail_bytes": "node exporter, filesystem collector",
    "node_filesystem_size_bytes": "node exporter, filesystem collector",
    "node_systemd_unit_state": "node exporter, systemd collector (enabled by fms_monitoring)",
    "node_systemd_timer_last_trigger_seconds": "node exporter, systemd collector (enabled by fms_monitoring)",
}


def promtool() -> str:
    """promtool's path; skip without it on a workstation, fail without it in CI."""
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("promtool is not installed: scripts/test installs it (Debian package prometheus)")
    pytest.skip("promtool is not installed (Debian package prometheus); CI runs this check")


def _alerts(path: Path = ALERTS) -> list[dict[str, Any]]:
    rules = yaml.safe_load(path.read_text())
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


# --- alert rules -------------------------------------------------------------------------------


def test_alert_rules_pass_promtool_unit_tests() -> None:
    result = run([promtool(), "test", "rules", str(ALERT_TESTS)], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in _alerts()}
    assert names - fires == set(), "alerts never shown to fire"
    assert names - quiet == set(), "alerts never shown to stay quiet"


def test_an_alert_that_cannot_fire_fails_its_unit_test(tmp_path: Path) -> None:
    """The unit tests are not vacuous: rules that never fire (like the old heartbeat rule, on a
    metric nobody exported) make each alert's firing case fail."""
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["expr"] = 'vector(1) > 2'  # never true
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    tests = yaml.safe_load(ALERT_TESTS.read_text())
    tests["rule_files"] = ["alerts.yml"]
    (tmp_path / "alerts_test.yml").write_text(yaml.safe_dump(tests))
    result = run([promtool(), "test", "rules", str(tmp_path / "alerts_test.yml")], cwd=tmp_path)
    assert result.returncode != 0
    failed = set(re.findall(r"alertname: (\w+)", result.stdout + result.stderr))
    assert failed == {rule["alert"] for rule in _alerts()}


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """The shipped scrape config, with its /etc paths pointed at the repository's files."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/fms.rules.yml"], "the path fms_monitoring installs to"
    config["rule_files"] = [str(ALERTS)]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = run([promtool(), "check", "config", str(tmp_path / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


# --- metric names ------------------------------------------------------------------------------

_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum", "_created"),
             "summary": ("", "_count", "_sum", "_created"), "info": ("_info",), "stateset": ("",), "unknown": ("",)}


_DECLARES = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum|\w+MetricFamily)\(|\(Collector\)")


def _metric_modules() -> Iterator[ModuleType]:
    """Every module of ours that declares a metric or a collector with prometheus_client, imported
    (only those: app.gunicorn_conf, say, must not be imported into a test process)."""
    for package in ("app", "tasks", "etl", "inference"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(errors="replace")
            if "prometheus_client" in text and _DECLARES.search(text):
                name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                yield importlib.import_module(name.removesuffix(".__init__"))


def _families(module: ModuleType) -> Iterator[Metric]:
    """The families a module declares: its Counter/Gauge/Histogram objects and its collectors'."""
    for value in vars(module).values():
        if isinstance(value, MetricWrapperBase):
            yield from value.describe()
        elif _declaring_collector(value, module):
            yield from value().describe()


def _declaring_collector(value: object, module: ModuleType) -> bool:
    """A collector class of this module that declares its families (``describe``) and needs no
    arguments for that; collectors that only merge other files (no ``describe``) declare nothing."""
    if not (inspect.isclass(value) and value.__module__ == module.__name__ and Collector in inspect.getmro(value)):
        return False
    if not callable(getattr(value, "describe", None)):
        return False
    try:
        inspect.signature(value).bind()
    except TypeError:
        return False
    return True


def declared_metrics() -> set[str]:
    """The sample names the fms code can export, read from its declarations (not a hand list)."""
    names: set[str] = set()
    for module in _metric_modules():
        for family in _families(module):
            names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan", "le"}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label
    names, label values, durations or Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges, subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    idents = re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text)
    return {m.group(1) for m in idents if not m.group(2) and m.group(1).lower() not in _NOT_METRICS}


def test_metric_name_extraction() -> None:
    assert metric_names('sum by (le, endpoint) (rate(fms_http_request_seconds_bucket{status=~"5.."}[5m])) '
                        '/ clamp_min(sum(rate(x_total[$__rate_interval])), 1e-9) > 0.05') \
        == {"fms_http_request_seconds_bucket", "x_total"}
    assert metric_names('absent(a) and on() (up{job="fms-api"} == 1)') == {"a", "up"}
    assert metric_names("time() - max by (process, queue) (b_seconds) > 2 * 86400") == {"b_seconds"}


def test_declared_metrics_cover_the_fms_modules() -> None:
    declared = declared_metrics()
    for name in ("fms_http_requests_total", "fms_http_request_seconds_bucket", "fms_queue_depth",
                 "fms_tasks_dead_total", METRIC):
        assert name in declared


def _dashboard_queries() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    panels = [p for row in dash["panels"] for p in [row, *row.get("panels", [])]]
    return [(p.get("title", "?"), t["expr"]) for p in panels for t in p.get("targets", []) if t.get("expr")]


def test_every_dashboard_query_names_exported_metrics() -> None:
    known = declared_metrics() | set(EXTERNAL_METRICS)
    queries = _dashboard_queries()
    assert queries
    for title, expr in queries:
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= known, f"dashboard panel {title!r} queries {sorted(names - known)}, which nothing exports"


def test_every_alert_names_exported_metrics() -> None:
    known = declared_metrics() | set(EXTERNAL_METRICS)
    for rule in _alerts():
        names = metric_names(rule["expr"])
        assert names and names <= known, f"{rule['alert']} watches {sorted(names - known)}, which nothing exports"


# --- the heartbeat gauge -----------------------------------------------------------------------


def test_a_real_workers_heartbeat_is_exported_and_outlives_the_worker(
        tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FMS_PROCESS", "worker-high")
    settings = fresh_settings(tmp_path, redis_server, worker_timeout_ms=200)
    app = create_app(settings)
    svc: Services = app.extensions["fms"]
    client = app.test_client()
    assert heartbeats_on_metrics(client) == {}, "no worker has beaten into this Redis yet"
    broker = configure_broker(settings, svc, "tasks.system")
    started = time.time()
    with running_worker(broker, threads=1, stop_timeout_ms=2000, queues={"high"}):
        beats = wait_for(lambda: heartbeats_on_metrics(client), timeout=15, what="a heartbeat on /metrics")
        assert set(beats) == {("worker-high", "high")}
        assert started - 1 <= beats[("worker-high", "high")] <= time.time() + 1
    last = heartbeats_on_metrics(client)[("worker-high", "high")]
    assert not redis_server.client(0).keys("fms:heartbeat:*"), "the worker's own key went with it"
    assert heartbeats_on_metrics(client) == {("worker-high", "high"): last}, \
        "its last beat stays exported for the alert"


def test_heartbeats_forget_pairs_not_seen_for_a_week(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = fresh_settings(tmp_path, redis_server)
    redis_server.client(0).hset(LAST_BEAT_KEY, mapping={
        "relay-old|default": time.time() - 8 * 86400, "worker-ai|ai": time.time() - 600, "garbage": "x"})
    client = create_app(settings).test_client()
    assert set(heartbeats_on_metrics(client)) == {("worker-ai", "ai")}


def test_metrics_answer_quickly_without_redis() -> None:
    """A dead broker Redis leaves the heartbeat series absent; the scrape still answers."""
    collector = HeartbeatCollector(f"redis://127.0.0.1:{free_port()}/0")
    start = time.monotonic()
    families = list(collector.collect())
    assert time.monotonic() - start < 3
    assert [f.name for f in families] == [METRIC] and families[0].samples == []


# --- Alertmanager ------------------------------------------------------------------------------

MONITORING_ROLE = ROOT / "ansible" / "roles" / "fms_monitoring"


@pytest.fixture(scope="module")
def alertmanager_configs(tmp_path_factory: pytest.TempPathFactory, ansible_env: dict[str, str]) -> dict[str, Path]:
    """The role's Alertmanager template, with the defaults and with an authenticated smarthost."""
    return render_templates(tmp_path_factory.mktemp("alertmanager"), ansible_env, [
        ("fms_monitoring/templates/alertmanager.yml.j2", "default.yml", {}),
        ("fms_monitoring/templates/alertmanager.yml.j2", "smarthost.yml", {
            "fms_monitoring_smtp_smarthost": "smtp.example.org:587", "fms_monitoring_smtp_require_tls": True,
            "fms_monitoring_smtp_auth_username": "alerts", "fms_monitoring_smtp_auth_password": "s3cret",
            "fms_monitoring_alert_email_to": "ops@example.org"}),
    ])


def _check_structure(config: dict[str, Any]) -> None:
    """What amtool would refuse, for machines without it: every route names a known receiver
    and the e-mail receiver has somewhere to send from and to."""
    receivers = {r["name"]: r for r in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert all(r["receiver"] in receivers for r in routes)
    assert config["global"]["smtp_smarthost"].rsplit(":", 1)[1].isdigit()
    assert "@" in config["global"]["smtp_from"]
    for receiver in receivers.values():
        assert receiver["email_configs"] and all("@" in e["to"] for e in receiver["email_configs"])


@pytest.mark.parametrize("name", ["default.yml", "smarthost.yml"])
def test_alertmanager_config_is_valid(alertmanager_configs: dict[str, Path], name: str) -> None:
    path = alertmanager_configs[name]
    config = yaml.safe_load(path.read_text())
    _check_structure(config)
    amtool = shutil.which("amtool")  # Debian prometheus-alertmanager; too big to install for CI alone
    if amtool:
        result = run([amtool, "check-config", str(path)])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout


def test_alertmanager_emails_every_alert_and_keeps_the_password_out(alertmanager_configs: dict[str, Path]) -> None:
    default = yaml.safe_load(alertmanager_configs["default.yml"].read_text())
    assert default["route"]["receiver"] == "fms-email"
    assert default["receivers"][0]["email_configs"][0]["to"] == "root@localhost"
    assert "smtp_auth_username" not in default["global"]
    text = alertmanager_configs["smarthost.yml"].read_text()
    smart = yaml.safe_load(text)
    assert smart["global"]["smtp_smarthost"] == "smtp.example.org:587" and smart["global"]["smtp_require_tls"] is True
    assert smart["global"]["smtp_auth_password_file"] == "/etc/prometheus/alertmanager-smtp-password"
    assert "s3cret" not in text, "the password goes into its own file"
    assert smart["receivers"][0]["email_configs"][0]["to"] == "ops@example.org"


def test_alertmanager_listens_where_prometheus_sends() -> None:
    defaults = yaml.safe_load((MONITORING_ROLE / "defaults" / "main.yml").read_text())
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = [t for am in config["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]]
    assert targets == [defaults["fms_monitoring_alertmanager_listen"]]
    tasks = (MONITORING_ROLE / "tasks" / "main.yml").read_text()
    assert "validate: amtool check-config %s" in tasks and "prometheus-alertmanager" in tasks
