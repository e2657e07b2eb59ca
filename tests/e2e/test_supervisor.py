"""The supervisor that keeps ``oms run``'s projection worker alive, with real processes: a
child that exits or is killed is started again (waiting twice as long after each quick
exit, and no longer after one that ran a while), and ``stop`` ends the child whatever it
does, the wait included. Then
``oms run`` itself: after its worker is killed with SIGKILL, the read models still advance,
and SIGTERM stops the new worker too."""

from __future__ import annotations

import itertools
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from interfaces.supervisor import Supervisor
from tests.e2e.processes import free_port, oms, wait_until_serving


def _supervising(name: str, code: str, *, first_delay: float = 0.05, max_delay: float = 0.4,
                 stable_after: float = 60.0) -> Supervisor:
    """A supervisor of ``python -c code``, with short delays."""
    return Supervisor(name, [sys.executable, "-c", code], first_delay=first_delay,
                      max_delay=max_delay, stable_after=stable_after)


def _eventually(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, parent pid, ...), or
    None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _alive(pid: int) -> bool:
    """Running: neither gone nor a zombie (exited, not yet reaped)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _said(caplog: pytest.LogCaptureFixture, pattern: str) -> list[tuple[float, re.Match[str]]]:
    """When the supervisor logged a message matching ``pattern``, and the match, in order."""
    found = []
    for record in caplog.records:
        if record.name == "evident.supervisor":
            match = re.search(pattern, record.getMessage())
            if match:
                found.append((record.created, match))
    return found


def _delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [float(m[1]) for _, m in _said(caplog, r"starting it again in ([0-9.]+) s")]


def test_a_failing_child_is_started_again_waiting_twice_as_long_each_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="evident.supervisor")
    supervisor = _supervising("failing", "raise SystemExit(3)", first_delay=0.1, max_delay=0.8)
    supervisor.start()
    try:
        _eventually(lambda: supervisor.restarts >= 5)
    finally:
        supervisor.stop()
    assert _delays(caplog)[:5] == [0.1, 0.2, 0.4, 0.8, 0.8]
    assert len(_said(caplog, "failing .pid [0-9]+. exited with status 3;")) >= 5
    starts = [at for at, _ in _said(caplog, r"started \(pid")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    for gap, delay in zip(gaps, [0.1, 0.2, 0.4, 0.8, 0.8], strict=False):
        assert gap >= delay * 0.95  # it really waited (the log's clock has coarse ticks)


def test_the_wait_starts_again_from_the_first_after_a_child_that_ran_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="evident.supervisor")
    supervisor = _supervising("steady", "import time; time.sleep(0.4); raise SystemExit(3)",
                              first_delay=0.1, max_delay=5.0, stable_after=0.3)
    supervisor.start()
    try:
        _eventually(lambda: supervisor.restarts >= 3)
    finally:
        supervisor.stop()
    assert _delays(caplog)[:3] == [0.1, 0.1, 0.1]


def test_a_killed_child_is_replaced_by_a_new_one(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = _supervising("sleeper", "import time; time.sleep(60)")
    supervisor.start()
    try:
        first = supervisor.pid
        assert first is not None
        # In a session of its own: Ctrl-C in oms run's terminal does not reach it.
        assert os.getsid(first) == first
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
    assert _said(caplog, f"sleeper .pid {first}. was killed by SIGKILL; starting it again")


def test_a_child_that_exits_without_an_error_is_started_again_too() -> None:
    supervisor = _supervising("done", "pass")
    supervisor.start()
    try:
        _eventually(lambda: supervisor.restarts >= 2)
    finally:
        supervisor.stop()


def test_stop_during_the_wait_ends_it_and_starts_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="evident.supervisor")
    supervisor = _supervising("failing", "raise SystemExit(3)", first_delay=30.0)
    supervisor.start()
    _eventually(lambda: bool(_delays(caplog)))
    started = time.monotonic()
    assert supervisor.stop() == 3
    assert time.monotonic() - started < 5
    assert supervisor.restarts == 0
    assert len(_said(caplog, "started")) == 1


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = ("import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            f" pathlib.Path({str(ready)!r}).touch(); time.sleep(60)")
    supervisor = _supervising("stubborn", code)
    supervisor.start()
    _eventually(ready.exists)  # its handler is in place
    started = time.monotonic()
    assert supervisor.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert supervisor.restarts == 0


def _worker_of(parent: int) -> int | None:
    """The pid of ``oms run``'s projection worker: its child running ``interfaces.cli project``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None or stat[0] == "Z" or int(stat[1]) != parent:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"project" in cmdline:
            return pid
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
        # What a service manager does; the worker, in a session of its own, is stopped
        # by oms run on its way out.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
        outlived = _alive(second)
        if outlived:  # it holds the output pipe open: reading it would wait for ever
            os.kill(second, signal.SIGKILL)
        output = process.stdout.read().decode() if process.stdout else ""
    assert not outlived, f"the new worker outlived oms run:\n{output}"
    assert process.returncode == 128 + signal.SIGTERM, output
    assert f"pid {first}) was killed by SIGKILL; starting it again" in output
