"""docker-compose.yml describes every process of the launcher with the same command and env."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devstack.processes import PROCESSES

pytestmark = pytest.mark.unit

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def test_every_launcher_process_is_in_compose() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    for process in PROCESSES:
        assert process.name in services, f"{process.name} missing: run scripts/gen_compose.py"
        service = services[process.name]
        assert service["command"] == process.argv, process.name
        assert set(process.env_names) <= set(service["environment"]), process.name
        for port in (process.grpc_port, process.http_port):
            if port:
                assert f"{port}:{port}" in service["ports"], process.name
