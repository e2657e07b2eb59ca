"""The API server's connections: commands take theirs from a pool of their own, sized by
``OMS_DB_COMMAND_POOL_SIZE``; reads use ``OMS_DB_POOL_SIZE``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from application.settings import Settings
from interfaces.http.app import create_app
from tests.http.conftest import API_KEYS, CLIENT, ok, register_customer


def test_commands_use_their_own_pool_sized_by_its_setting(database_url: str) -> None:
    settings = Settings(DATABASE_URL=database_url, OMS_API_KEYS=API_KEYS, OMS_DB_POOL_SIZE=3,
                        OMS_DB_COMMAND_POOL_SIZE=7)
    app = create_app(settings, database_url)
    with TestClient(app, headers=CLIENT) as http:
        commands = app.state.oms.recorder.async_pool
        assert (commands.max_size, app.state.read_pool.max_size) == (7, 3)
        before = commands.get_stats().get("requests_num", 0)
        customer = register_customer(http)
        assert commands.get_stats()["requests_num"] == before + 1  # the append took one
        ok(http.get(f"/v1/customers/{customer}"))
