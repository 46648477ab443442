"""Settings: environment, NAME_FILE, .env; read once; documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings, SettingsError, table


def test_environment_wins_over_dotenv_and_files_are_read(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("FMS_PORT=9001\nFMS_LOG_LEVEL=DEBUG\n")
    secret = tmp_path / "mongo_uri"
    secret.write_text("mongodb://u:p@127.0.0.1/fms\n")
    s = Settings.from_env({"FMS_PORT": "9002", "MONGODB_URI_FILE": str(secret)}, dotenv=dotenv)
    assert s.port == 9002 and s.log_level == "DEBUG"
    assert s.mongodb_uri == "mongodb://u:p@127.0.0.1/fms"
    assert s.redacted()["MONGODB_URI"] == "***"


@pytest.mark.parametrize(("env", "message"), [
    ({"FMS_PORT": "eighty"}, "FMS_PORT"),
    ({"FMS_ENV": "staging"}, "FMS_ENV"),
    ({"FMS_METRICS_PUBLIC": "maybe"}, "FMS_METRICS_PUBLIC"),
    ({"MONGODB_URI_FILE": "/nonexistent/file"}, "MONGODB_URI_FILE"),
])
def test_bad_values_fail_at_start_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env, dotenv=None)


def test_cache_url_defaults_to_database_1_of_the_broker() -> None:
    s = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0"}, dotenv=None)
    assert s.cache_url == "redis://127.0.0.1:6379/1"


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for row in table().splitlines()[2:]:
        assert row in readme, f"README configuration table is missing or stale: {row}"
