"""The supervisor that keeps ``oms run``'s projection worker alive, with real processes: a
child that fails or is killed is started again (waiting longer after each quick failure), a
child that stops cleanly is left stopped, and ``stop`` ends the child whatever it does. Then
``oms run`` itself: after its worker is killed with SIGKILL, the read models still advance."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from interfaces.supervisor import Supervisor
from tests.e2e.processes import free_port, oms, wait_until_serving


def _supervising(name: str, code: str) -> Supervisor:
    """A supervisor of ``python -c code`` with short delays (0.05 s doubling to 0.4 s)."""
    return Supervisor(name, [sys.executable, "-c", code], first_delay=0.05, max_delay=0.4)


def _eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) still answers signal 0.
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def test_a_child_that_fails_is_started_again_waiting_longer_each_time() -> None:
    supervisor = _supervising("failing", "raise SystemExit(3)")
    supervisor.start()
    try:
        time.sleep(1.5)
    finally:
        supervisor.stop()
    # Delays of 0.05, 0.1, 0.2, 0.4, 0.4 ... s, plus each child's start-up: a few restarts
    # in 1.5 s, not dozens (no spinning) and not none.
    assert 2 <= supervisor.restarts <= 8


def test_a_killed_child_is_replaced_by_a_new_one() -> None:
    supervisor = _supervising("sleeper", "import time; time.sleep(60)")
    supervisor.start()
    try:
        first = supervisor.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _eventually(lambda: supervisor.pid != first)
        second = supervisor.pid
        assert second is not None
        assert _alive(second)
        assert supervisor.restarts == 1
    finally:
        status = supervisor.stop()
    assert status == -signal.SIGTERM
    assert not _alive(second)


def test_a_child_that_stops_cleanly_is_left_stopped() -> None:
    supervisor = _supervising("done", "pass")
    supervisor.start()
    time.sleep(0.8)
    assert supervisor.stop() == 0
    assert supervisor.restarts == 0


def test_stop_kills_a_child_that_ignores_sigterm() -> None:
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(60)")
    supervisor = _supervising("stubborn", code)
    supervisor.start()
    time.sleep(0.5)  # let it install its handler
    started = time.monotonic()
    assert supervisor.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert supervisor.restarts == 0


def _worker_of(parent: int) -> int | None:
    """The pid of ``oms run``'s projection worker: its child running ``interfaces.cli project``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().split(")")[-1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if ppid == parent and b"project" in cmdline and _alive(int(entry.name)):
            return int(entry.name)
    return None


@pytest.mark.slow
def test_oms_run_restarts_its_worker_after_kill_9(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": database_url, "OMS_DATA_DIR": str(tmp_path),
           "OMS_API_KEYS": "ana:agent:supervised-agent-key",
           "OMS_PROJECTION_POLL_INTERVAL": "0.1"}
    with oms("run", "--port", str(port), env=env) as process:
        wait_until_serving(base, process, timeout=60)
        _eventually(lambda: _worker_of(process.pid) is not None)
        first = _worker_of(process.pid)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _eventually(lambda: _worker_of(process.pid) not in (None, first))
        second = _worker_of(process.pid)
        assert second is not None

        headers = {"Authorization": "Bearer supervised-agent-key"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            created = http.post("/v1/customers", json={"name": "Jo", "email": "jo@example.com"})
            assert created.status_code == 201, created.text
            customer = created.json()
            # The care dashboard is projected by the new worker.
            read = http.get(f"/v1/customers/{customer['id']}/dashboard",
                            params={"min_position": customer["position"]})
            assert read.status_code == 200, read.text
        process.send_signal(signal.SIGINT)
        process.wait(timeout=40)
        output = process.stdout.read().decode() if process.stdout else ""
    assert process.returncode in (0, 130), output
    assert f"pid {first}) exited with status -9; starting it again" in output
    assert not _alive(second), "the new worker outlived oms run"
