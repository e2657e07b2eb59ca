"""``oms run`` says where Evident is running only once it answers there: a user (or a
script) that reads the line and goes to the address at once must not be refused."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.processes import free_port, oms


def test_oms_run_announces_its_addresses_once_it_answers_there(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {"DATABASE_URL": database_url, "OMS_DATA_DIR": str(tmp_path),
           "OMS_API_KEYS": "ana:agent:announcement-key"}
    with oms("run", "--port", str(port), env=env) as process:
        assert process.stdout is not None
        output = []
        for line in process.stdout:  # ends if the process does
            output.append(line.decode())
            if line.startswith(b"Evident is running"):
                break
        else:
            raise AssertionError(f"oms run exited without announcing itself:\n{''.join(output)}")
        assert f"API http://127.0.0.1:{port}" in output[-1]
        # At once, with no retry: the port must already be listening.
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert answer.status_code == 200
