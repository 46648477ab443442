"""fms-rollback, rendered by Ansible, run on a fake release tree with a systemctl that records.

The tree is what fms_app lays out: ``releases/<id>/`` (complete ones carry
``.fms-release-complete``) and a relative ``current`` symlink. The fake systemctl on PATH
answers ``show -p Wants fms.target`` with the tree's services, refuses ``reload fms-api``
for a release marked BROKEN (as the unit's ExecReload= import pre-check does) and logs
every call. NFR-MAINT-001: a rollback completes in under 5 minutes.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.conftest import run
from tests.ops.rendering import render_templates
from tests.ops.tree import systemd_processes

NFR_MAINT_001_SECONDS = 300

FAKE_SYSTEMCTL = """#!/bin/bash
printf '%s\\n' "$*" >> "$FAKE_SYSTEMCTL_LOG"
case "$1" in
    show) cat "$FAKE_WANTS" ;;
    reload) [ -e "$(readlink -f "$FAKE_PREFIX/current")/BROKEN" ] && exit 1; exit 0 ;;
    try-restart) sleep "${FAKE_RESTART_SECONDS:-0}"; exit "${FAKE_RESTART_RC:-0}" ;;
    *) exit 0 ;;
esac
"""


def _units() -> list[str]:
    return [f"fms-{p.name}.service" for p in systemd_processes()]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, ansible_env: dict[str, str]) -> tuple[Path, Path]:
    """(the rendered script, the prefix it was rendered for)."""
    base = tmp_path_factory.mktemp("rollback")
    prefix = base / "opt-fms"
    out = render_templates(base / "rendered", ansible_env, [("fms_app/templates/fms-rollback.j2", "fms-rollback", {})],
                           {"fms_app_prefix": str(prefix)})
    return out["fms-rollback"], prefix


class Host:
    """A fake release tree and a recording systemctl."""

    def __init__(self, script: Path, prefix: Path, work: Path) -> None:
        self.script, self.prefix = script, prefix
        shutil.rmtree(prefix, ignore_errors=True)
        (prefix / "releases").mkdir(parents=True)
        bindir = work / "bin"
        bindir.mkdir()
        systemctl = bindir / "systemctl"
        systemctl.write_text(FAKE_SYSTEMCTL)
        systemctl.chmod(systemctl.stat().st_mode | stat.S_IXUSR)
        self.log = work / "systemctl.log"
        wants = work / "wants"
        wants.write_text(" ".join(_units()) + "\n")
        self.env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_SYSTEMCTL_LOG": str(self.log),
                    "FAKE_WANTS": str(wants), "FAKE_PREFIX": str(prefix)}

    def release(self, name: str, age_minutes: int, complete: bool = True, broken: bool = False) -> None:
        path = self.prefix / "releases" / name
        (path / "app").mkdir(parents=True)
        (path / "app" / "wsgi.py").write_text(f"RELEASE = {name!r}\n")
        if complete:
            (path / ".fms-release-complete").touch()
        if broken:
            (path / "BROKEN").touch()
        when = time.time() - age_minutes * 60
        os.utime(path, (when, when))

    def point_current(self, name: str) -> None:
        (self.prefix / "current").symlink_to(f"releases/{name}")

    def current(self) -> str:
        return os.readlink(self.prefix / "current")

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def rollback(self, *args: str, **env: str) -> tuple[int, str, float]:
        start = time.monotonic()
        result = run(["sh", str(self.script), *args], env={**self.env, **env}, timeout=NFR_MAINT_001_SECONDS)
        return result.returncode, result.stdout + result.stderr, time.monotonic() - start


@pytest.fixture
def host(rendered: tuple[Path, Path], tmp_path: Path) -> Host:
    script, prefix = rendered
    h = Host(script, prefix, tmp_path)
    h.release("r1", age_minutes=300)
    h.release("r2", age_minutes=200)
    h.release("r3", age_minutes=100)
    h.point_current("r3")
    return h


@pytest.fixture
def watcher(host: Host) -> Iterator[list[str]]:
    """Resolve ``current`` in a loop while the test runs: what a request starting then would see."""
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.append(os.readlink(host.prefix / "current"))
            except FileNotFoundError:
                seen.append("MISSING")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield seen
    stop.set()
    thread.join(5)


def test_rollback_switches_atomically_reloads_the_api_and_restarts_the_rest(host: Host, watcher: list[str]) -> None:
    rc, out, seconds = host.rollback()
    assert rc == 0, out
    assert host.current() == "releases/r2"
    assert not (host.prefix / "current.new").exists()
    assert set(watcher) <= {"releases/r3", "releases/r2"}, "current never went missing or elsewhere"
    others = [u for u in _units() if u != "fms-api.service"]
    assert host.calls() == ["reload fms-api.service", "show --property=Wants --value fms.target",
                            "try-restart " + " ".join(others)]
    assert seconds < NFR_MAINT_001_SECONDS
    assert seconds < 10, f"rollback took {seconds:.1f} s with an instant systemctl"
    assert "r3 -> r2" in out


def test_every_process_but_the_api_is_restarted_not_reloaded() -> None:
    """The script reloads fms-api only; any other process the tree says reloads would need it too."""
    names = {p.name for p in systemd_processes()}
    assert "api" in names and len(names) > 1
    reloading = {p.name for p in systemd_processes() if getattr(p, "reload_signal", None)}
    assert reloading <= {"api"}, f"{reloading - {'api'}} reload gracefully: fms-rollback must reload them too"


def test_a_second_rollback_goes_further_back(host: Host) -> None:
    assert host.rollback()[0] == 0
    rc, out, _ = host.rollback()
    assert rc == 0, out
    assert host.current() == "releases/r1", "older than the current, not the newest other one"
    rc, out, _ = host.rollback()
    assert rc == 1 and "no complete release older than r1" in out
    assert host.current() == "releases/r1"


def test_rollback_skips_an_incomplete_release(host: Host) -> None:
    host.release("r2b", age_minutes=150, complete=False)
    (host.prefix / "releases" / "r2" / ".fms-release-complete").unlink()
    rc, out, _ = host.rollback()
    assert rc == 0, out
    assert host.current() == "releases/r1"


def test_rollback_to_a_named_release_and_refusals(host: Host) -> None:
    rc, out, _ = host.rollback("r1")
    assert rc == 0, out
    assert host.current() == "releases/r1"
    for bad in ("../r3", "nope", "r1"):
        rc, out, _ = host.rollback(bad)
        assert rc == 1, (bad, out)
        assert host.current() == "releases/r1"


def test_a_release_refused_by_the_reload_check_is_switched_back(host: Host) -> None:
    shutil.rmtree(host.prefix / "releases" / "r2")
    host.release("r2", age_minutes=200, broken=True)
    rc, out, _ = host.rollback()
    assert rc == 1
    assert "refused by the import pre-check; back on r3" in out
    assert host.current() == "releases/r3"
    assert not any(c.startswith("try-restart") for c in host.calls()), "nothing restarted onto the bad release"


def test_a_slow_drain_does_not_hold_the_rollback_past_its_bound(host: Host) -> None:
    rc, out, seconds = host.rollback(FAKE_RESTART_SECONDS="60", FMS_ROLLBACK_RESTART_WAIT="1")
    assert rc == 0, out
    assert seconds < 10
    assert "not finished after 1 s; systemd completes it" in out
    assert host.current() == "releases/r2"


def test_a_unit_failing_to_restart_fails_the_rollback(host: Host) -> None:
    rc, out, _ = host.rollback(FAKE_RESTART_RC="1")
    assert rc == 1
    assert "failed; see systemctl status" in out
