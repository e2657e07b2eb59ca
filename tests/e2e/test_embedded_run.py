"""Smoke test of the zero-configuration default: ``oms run`` with no ``DATABASE_URL``
starts its own PostgreSQL, the API and the projection worker; an order placed over HTTP
reads back; Ctrl-C stops everything, the database included; data survives a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import free_port, wait_until_serving

ADDRESS = {"name": "Jo Doe", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "OMS_API_KEYS")}
    env.update({"OMS_DATA_DIR": str(data_dir), "OMS_PROJECTION_POLL_INTERVAL": "0.2"})
    return subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli", "run", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _interrupt(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGINT)  # what Ctrl-C does
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("oms run did not stop on Ctrl-C")
    return process.stdout.read().decode() if process.stdout else ""


def _agent_key(data_dir: Path) -> str:
    for entry in (data_dir / "api-keys").read_text().strip().split(","):
        _actor, role, key = entry.split(":")
        if role == "agent":
            return key
    raise AssertionError("oms run created no agent key")


@pytest.mark.slow
def test_oms_run_on_the_embedded_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "evident"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(data_dir, port)
    try:
        wait_until_serving(base, process, timeout=60)
        headers = {"Authorization": f"Bearer {_agent_key(data_dir)}"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            customer = http.post("/v1/customers", json={"name": "Jo", "email": "jo@example.com"})
            assert customer.status_code == 201, customer.text
            placed = http.post("/v1/orders", json={
                "customer_id": customer.json()["id"], "channel": "web", "currency": "EUR",
                "lines": [{"sku": "JEANS-32", "quantity": 1, "unit_price": "59.90"}],
                "shipping_address": ADDRESS,
            })
            assert placed.status_code == 201, placed.text
            order = placed.json()
            read = http.get(f"/v1/orders/{order['id']}",
                            params={"min_position": order["position"]})
            assert read.status_code == 200, read.text
            assert read.json()["lines"][0]["backordered"] == 1
    finally:
        output = _interrupt(process)
    assert process.returncode in (0, 130), output
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "PostgreSQL still running"

    # Data survives a restart.
    process = _start(data_dir, port)
    try:
        wait_until_serving(base, process, timeout=60)
        headers = {"Authorization": f"Bearer {_agent_key(data_dir)}"}
        read = httpx.get(f"{base}/v1/orders/{order['id']}", headers=headers, timeout=10)
        assert read.status_code == 200
        assert read.json()["id"] == order["id"]
    finally:
        _interrupt(process)
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
