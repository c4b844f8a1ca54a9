"""docker-compose.yml and the Dockerfile, checked without a container engine (none runs here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from activitylog.cli import app as cli_app
from common.settings import Settings, variable
from common.store import parse_clickhouse_url

ROOT = Path(__file__).resolve().parents[2]
PROJECT_SERVICES = ("init", "texts", "worker", "api")
SAMPLE = {
    "CLICKHOUSE_PASSWORD": "s3cret-Pw",
    "ACTIVITYLOG_API_KEYS": "k1=ptn-1,k2=*",
    "ACTIVITYLOG_DESTINATIONS_KEY": "0123456789abcdef0123456789abcdef",
}
_VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _interpolate(value: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name, kind, arg = m.group(1), m.group(2), m.group(3)
        if name in env:
            return env[name]
        if kind == "?":
            raise AssertionError(f"{name} is required: {arg}")
        return arg or ""

    return _VAR.sub(sub, value)


def _env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment", {})
    return {k: _interpolate(str(v), SAMPLE) for k, v in raw.items()}


def _variables_the_code_reads() -> set[str]:
    return {variable(field) for field in Settings.model_fields}


def test_services_and_start_order() -> None:
    services = _compose()["services"]
    assert set(services) == {"kafka", "clickhouse", "init", "texts", "worker", "deliver", "api"}
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in ("kafka", "clickhouse", "api"):
        assert "healthcheck" in services[name], name
    assert services["init"]["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        "clickhouse": {"condition": "service_healthy"},
    }
    # The re-render of stale stored texts runs beside the workers, never before them.
    assert "--skip-texts" in " ".join(services["init"]["entrypoint"])
    for name in ("texts", "worker", "deliver", "api"):
        assert services[name]["depends_on"] == {
            "init": {"condition": "service_completed_successfully"}
        }


def test_images_are_pinned_by_version() -> None:
    for name, service in _compose()["services"].items():
        image = service.get("image")
        assert image, f"{name} names no image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"


def test_every_variable_is_one_the_code_reads_and_parses() -> None:
    known = _variables_the_code_reads()
    for name in PROJECT_SERVICES:
        env = _env(_compose()["services"][name])
        ours = {k for k in env if k.startswith("ACTIVITYLOG_")}
        assert ours <= known, f"{name}: unknown variables {ours - known}"
        assert {"ACTIVITYLOG_KAFKA_BOOTSTRAP", "ACTIVITYLOG_CLICKHOUSE_URL"} <= ours
        settings = Settings.from_env(env)  # raises ConfigError on a bad value
        location = parse_clickhouse_url(settings.clickhouse_url)
        assert location.mode == "server" and location.host == "clickhouse"
        assert location.password == SAMPLE["CLICKHOUSE_PASSWORD"]
        assert settings.kafka_bootstrap.split(":")[0] == "kafka"


def test_the_password_and_the_api_keys_have_no_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "CLICKHOUSE_PASSWORD:-" not in text and "ACTIVITYLOG_API_KEYS:-" not in text
    with pytest.raises(AssertionError, match="CLICKHOUSE_PASSWORD is required"):
        _interpolate(text, {})


def test_store_and_broker_settings_agree_with_their_services() -> None:
    services = _compose()["services"]
    clickhouse = _env(services["clickhouse"])
    kafka = _env(services["kafka"])
    for name in PROJECT_SERVICES:
        settings = Settings.from_env(_env(services[name]))
        location = parse_clickhouse_url(settings.clickhouse_url)
        assert location.database == clickhouse["CLICKHOUSE_DB"]
        assert location.username == clickhouse["CLICKHOUSE_USER"]
        assert f"PLAINTEXT://{settings.kafka_bootstrap}" in kafka["KAFKA_ADVERTISED_LISTENERS"]


def test_the_api_is_keyed_because_it_listens_beyond_loopback() -> None:
    settings = Settings.from_env(_env(_compose()["services"]["api"]))
    assert not settings.api_is_loopback
    assert settings.api_keys


def test_commands_are_real_cli_commands() -> None:
    group = typer.main.get_command(cli_app)
    commands = set(group.commands)  # type: ignore[attr-defined]
    for name in PROJECT_SERVICES:
        service = _compose()["services"][name]
        words = service.get("command") or []
        if "entrypoint" in service:
            words = re.findall(r"activitylog (\w+)", " ".join(service["entrypoint"]))
        assert words and words[0] in commands, f"{name}: {words}"


def test_dockerfile_is_slim_non_root_and_installs_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert base and re.search(r":\d", base.group(1)) and "slim" in base.group(1)
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert "-c constraints.txt" in text
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for package in (p.rstrip("*") for p in found["find"]["include"]):
        assert (ROOT / package / "__init__.py").is_file(), package
        assert re.search(rf"^COPY {package} ", text, re.MULTILINE), package
    assert 'ENTRYPOINT ["activitylog"]' in text
