"""Ansible: syntax, lint (production profile) and the templates it renders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import yaml

from app.render.systemd import HostConfig, render_all
from tests.ops.conftest import ROOT, run, tool

ANSIBLE = ROOT / "ansible"
ROLES = ANSIBLE / "roles"


def test_playbook_syntax(ansible_env: dict[str, str]) -> None:
    result = run([tool("ansible-playbook"), "-i", "inventory/example.yml", "--syntax-check", "site.yml"],
                 cwd=ANSIBLE, env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile_has_no_findings(ansible_env: dict[str, str]) -> None:
    result = run([tool("ansible-lint"), "--offline", "--nocolor", "--profile", "production", "ansible/"],
                 cwd=ROOT, env=ansible_env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failure(s), 0 warning(s)" in result.stdout + result.stderr


def test_roles_use_the_geerlingguy_layout_and_prefixed_variables() -> None:
    site = yaml.safe_load((ANSIBLE / "site.yml").read_text())
    roles = [r["role"] for r in site[0]["roles"]]
    assert roles and all((ROLES / r / "tasks" / "main.yml").exists() for r in roles)
    for role in roles:
        defaults = ROLES / role / "defaults" / "main.yml"
        assert defaults.exists(), role
        for name in yaml.safe_load(defaults.read_text()) or {}:
            assert name.startswith(f"{role}_"), f"{role}: {name} is not role-prefixed"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, ansible_env: dict[str, str]) -> Path:
    """Render every template with the roles' defaults, through Ansible itself."""
    out = tmp_path_factory.mktemp("rendered")
    defaults = sorted(str(p) for p in ROLES.glob("*/defaults/main.yml"))
    tasks = []
    templates = [
        ("fms_systemd/templates/systemd-host.json.j2", "host-native.json", {}),
        ("fms_systemd/templates/systemd-host.json.j2", "host-compose.json",
         {"fms_data_services": "compose", "fms_app_bootstrap_admin": "admin:pw"}),
        ("fms_data/templates/redis.conf.j2", "redis-broker-native.conf",
         {"fms_data_redis_role": "broker", "fms_data_redis_mode": "native"}),
        ("fms_data/templates/redis.conf.j2", "redis-cache-native.conf",
         {"fms_data_redis_role": "cache", "fms_data_redis_mode": "native"}),
        ("fms_data/templates/compose.yaml.j2", "compose.yaml", {}),
        ("fms_nginx/templates/fms.conf.j2", "nginx-fms.conf", {}),
        ("fms_app/templates/fms.env.j2", "fms.env", {}),
        ("fms_app/templates/fms-rollback.j2", "fms-rollback", {}),
    ]
    for src, dest, extra in templates:
        tasks.append({"name": dest, "ansible.builtin.template": {"src": str(ROLES / src), "dest": str(out / dest),
                                                                 "mode": "0644"}, "vars": extra})
    playbook = [{
        "name": "render", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": defaults,
        "tasks": tasks,
    }]
    book = out / "render.yml"
    book.write_text(yaml.safe_dump(playbook))
    extra = out / "extra.json"  # extra vars outrank the role defaults loaded as vars_files
    extra.write_text(json.dumps({"ansible_python_interpreter": sys.executable,
                                 "fms_systemd_cores": 4, "fms_data_redis_password": "s3cret",
                                 "fms_data_mongo_password": "m0ngo"}))
    result = run([tool("ansible-playbook"), "-i", "localhost,", "-e", f"@{extra}", str(book)],
                 cwd=ANSIBLE, env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_host_json_feeds_the_renderer(rendered: Path) -> None:
    native = HostConfig.from_json(json.loads((rendered / "host-native.json").read_text()))
    assert native.cores == 4 and "MONGODB_URI" not in native.credentials
    units = render_all(native)
    assert "LoadCredential=redis_url:/etc/fms/credentials/redis_url" in units["fms-api.service"]
    compose = HostConfig.from_json(json.loads((rendered / "host-compose.json").read_text()))
    assert compose.credentials["MONGODB_URI"] == "mongodb_uri"
    assert compose.credentials["FMS_BOOTSTRAP_ADMIN"] == "bootstrap_admin"
    assert "Environment=MONGODB_URI_FILE=%d/mongodb_uri" in render_all(compose)["fms-api.service"]


def _start_redis(conf: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    """Run a real redis-server on the rendered config (paths moved into tmp)."""
    sock = tmp / f"{conf.stem}.sock"
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", str(conf), "--port", "0",
                             "--unixsocket", str(sock), "--pidfile", str(tmp / f"{conf.stem}.pid"),
                             "--dir", str(tmp), "--supervised", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=str(sock), password="s3cret")
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc, client
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"redis-server did not accept {conf.name}")
            time.sleep(0.05)


def test_redis_configs_run_with_the_promised_policies(rendered: Path, tmp_path: Path) -> None:
    expected = {
        "redis-broker-native.conf": {"appendonly": "yes", "appendfsync": "everysec",
                                     "maxmemory-policy": "noeviction"},
        "redis-cache-native.conf": {"appendonly": "no", "maxmemory-policy": "allkeys-lru",
                                    "maxmemory": str(256 * 1024 * 1024), "save": ""},
    }
    for name, settings in expected.items():
        text = (rendered / name).read_text()
        assert "bind 127.0.0.1 -::1" in text and "requirepass s3cret" in text
        proc, client = _start_redis(rendered / name, tmp_path)
        try:
            with pytest.raises(redis.exceptions.AuthenticationError):
                redis.Redis(unix_socket_path=client.connection_pool.connection_kwargs["path"]).ping()
            for key, value in settings.items():
                assert client.config_get(key)[key] == value, (name, key)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_compose_publishes_on_loopback_only_with_auth(rendered: Path) -> None:
    compose = yaml.safe_load((rendered / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    assert "--auth" in compose["services"]["mongo"]["command"]
    assert compose["services"]["mongo"]["environment"]["MONGO_INITDB_ROOT_PASSWORD_FILE"]


def _compose_binary() -> list[str] | None:
    if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_config_validates(rendered: Path, tmp_path: Path) -> None:
    compose = _compose_binary()
    if compose is None:
        pytest.skip("no compose binary here (docker client without the compose plugin, no docker-compose)")
    project = tmp_path / "compose"
    project.mkdir()
    shutil.copy(rendered / "compose.yaml", project / "compose.yaml")
    for name in ("redis-broker.conf", "redis-cache.conf", "mongo_password"):
        (project / name).write_text("x\n")
    result = run([*compose, "-f", str(project / "compose.yaml"), "config", "--quiet"], cwd=project)
    assert result.returncode == 0, result.stderr


def test_nginx_speaks_tls13_only_with_hsts(rendered: Path) -> None:
    text = (rendered / "nginx-fms.conf").read_text()
    protocols = [line.strip() for line in text.splitlines() if line.strip().startswith("ssl_protocols")]
    assert protocols == ["ssl_protocols TLSv1.3;"]
    assert "Strict-Transport-Security" in text
    assert "client_max_body_size 2m;" in text
    assert "proxy_pass http://fms_api;" in text and "server 127.0.0.1:8000;" in text


def test_settings_file_carries_no_secrets(rendered: Path) -> None:
    text = (rendered / "fms.env").read_text()
    assert "FMS_DATA_DIR=/var/lib/fms" in text
    for secret in ("SECRET_KEY", "REDIS_URL", "MONGODB_URI", "PASSWORD", "s3cret"):
        assert secret not in text
