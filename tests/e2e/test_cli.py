"""The operator's commands against a real database: help, schema, audit, rebuild, replay."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import psycopg

from application.envelope import Envelope
from application.order_management import OrderManagement
from domain.order_values import LineQuantity
from projections import registry
from tests.projections.support import catch_up
from tests.shop import place_one_order


def oms_cli(*args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "interfaces.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _shop(oms: OrderManagement, agent: Envelope) -> int:
    placed = place_one_order(oms, agent, quantity=3, stock=10)
    cut = placed.position
    oms.cancel_order(placed.id, reason="changed mind", lines=[LineQuantity("1", 2)],
                     envelope=agent)
    return cut


def test_help_lists_every_command() -> None:
    result = oms_cli("--help")
    assert result.returncode == 0
    for command in ("run", "serve", "project", "projections", "db", "audit", "demo"):
        assert command in result.stdout


def test_a_failure_is_one_line_and_a_non_zero_exit() -> None:
    result = oms_cli("project", "no_such_projection",
                     database_url="postgresql://postgres@127.0.0.1:5432/postgres")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "unknown projection no_such_projection" in result.stderr


def test_audit_verify_export_and_a_point_in_time_replay(
    database_url: str, oms: OrderManagement, agent: Envelope
) -> None:
    cut = _shop(oms, agent)
    assert oms_cli("db", "init", database_url=database_url).returncode == 0

    verified = oms_cli("audit", "verify", database_url=database_url)
    assert verified.returncode == 0, verified.stderr
    assert "ok:" in verified.stdout

    exported = oms_cli("audit", "export", database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    lines = [orjson.loads(line) for line in exported.stdout.splitlines()]
    with psycopg.connect(database_url) as conn:
        total = conn.execute("SELECT count(*) FROM events").fetchone()
    assert total is not None
    assert len(lines) == total[0]
    assert {"position", "recorded_at", "type", "actor", "role", "reason", "data"} <= set(lines[0])
    assert lines[-1]["reason"] == "changed mind"

    replayed = oms_cli("projections", "replay", "stock_visibility", "--until", str(cut),
                       "--into", "stock_then", database_url=database_url)
    assert replayed.returncode == 0, replayed.stderr
    catch_up(database_url, registry.select(["stock_visibility"]))
    with psycopg.connect(database_url) as conn:
        then = conn.execute("SELECT on_hand, reserved FROM stock_then.items").fetchall()
        assert then == [(10, 3)]

    rebuilt = oms_cli("projections", "rebuild", "stock_visibility", database_url=database_url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "is live" in rebuilt.stdout

    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("UPDATE events SET actor = 'mallory' WHERE notification_id = %s", (cut,))
    broken = oms_cli("audit", "verify", database_url=database_url)
    assert broken.returncode == 1
    assert f"'position': {cut}" in broken.stdout
