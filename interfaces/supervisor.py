"""Keeping ``oms run``'s projection worker alive for as long as the API runs.

``oms run`` serves the API in its own process and projects in a child. The worker rides out
database restarts by itself (``projections.engine.Worker``), but a child that dies for any
other reason — the kernel's OOM killer, ``kill -9``, a bug — used to leave the API serving
while every read model silently stopped, and ``/readyz`` only noticed once the lag passed
``OMS_READY_MAX_LAG``. The supervisor starts the child again whenever it exits: soon after a
child that had run for a while, and waiting longer after each quick exit (one that cannot
reach its database, say) so that it does not spin.

The child runs in a session of its own, so Ctrl-C in the terminal reaches only ``oms run``,
which then stops the child through ``stop``: an exit the supervisor did not ask for is
always the child's own, and is never mistaken for a shutdown (nor a shutdown for a crash).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger("evident.supervisor")


def describe_exit(status: int) -> str:
    """``exited with status 1`` or ``was killed by SIGKILL``, from a ``Popen.returncode``."""
    if status >= 0:
        return f"exited with status {status}"
    try:
        return f"was killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"was killed by signal {-status}"


class Supervisor:
    """Runs one child process and starts it again whenever it exits, until ``stop``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._env = dict(env) if env is not None else None
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._stable_after = stable_after
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # held while the child is replaced or stopped
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before ``start``)."""
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> None:
        """Start the child, and the thread that waits on it."""
        if self._watcher is not None:
            raise RuntimeError(f"{self.name} is already supervised")
        self._process = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name=f"supervise {self.name}",
                                         daemon=True)
        self._watcher.start()

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop supervising and terminate the child (killing it after ``timeout`` seconds);
        its exit status, or None if it was never started."""
        self._stopping.set()
        with self._lock:
            process = self._process
            if process is None:
                return None
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s (pid %d) did not stop within %g s; killing it",
                                self.name, process.pid, timeout)
                    process.kill()
                    process.wait()
        if self._watcher is not None:
            self._watcher.join()
        return process.returncode

    def _spawn(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(self._argv, env=self._env, start_new_session=True)
        log.info("%s started (pid %d)", self.name, process.pid)
        return process

    def _watch(self) -> None:
        delay = self._first_delay
        process = self._process
        assert process is not None
        started = time.monotonic()
        while True:
            if process is not None:
                status = process.wait()
                if self._stopping.is_set():
                    return
                if time.monotonic() - started >= self._stable_after:
                    delay = self._first_delay
                log.error("%s (pid %d) %s; starting it again in %g s",
                          self.name, process.pid, describe_exit(status), delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self._max_delay)
            with self._lock:
                if self._stopping.is_set():
                    return  # stop() ran meanwhile: it must not find a new child after it
                started = time.monotonic()
                try:
                    process = self._process = self._spawn()
                except OSError as e:  # cannot even start (no memory, no such program)
                    log.error("cannot start %s: %s; trying again in %g s", self.name, e, delay)
                    process = None
                else:
                    self.restarts += 1
