"""docker-compose.yml cannot be run here (no Docker engine), so it is checked statically:
PostgreSQL 16 with a healthcheck, and every other service runs a real ``oms`` command,
waits for a healthy database and is configured only through the environment; each is
started again if it exits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from interfaces.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_database_is_postgres_16_with_a_healthcheck(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


@pytest.mark.parametrize("service", ["api", "projector"])
def test_services_run_real_oms_commands_once_the_database_is_healthy(
    compose: dict[str, Any], service: str
) -> None:
    spec = compose["services"][service]
    command = spec["command"]
    assert command[0] == "oms"
    build_parser().parse_args(command[1:])  # exits (fails the test) on an unknown command
    assert spec["depends_on"]["db"]["condition"] == "service_healthy"
    assert spec["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert (ROOT / "Dockerfile").exists()


@pytest.mark.parametrize("service", ["db", "api", "projector"])
def test_a_service_that_exits_is_started_again(compose: dict[str, Any], service: str) -> None:
    assert compose["services"][service]["restart"] == "unless-stopped"


def test_every_service_is_in_the_file(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"db", "api", "projector"}
