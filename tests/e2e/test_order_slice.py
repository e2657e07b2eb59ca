"""The vertical slice, end to end across OS processes: the API writes through the
application into the event store, a separate ``oms project`` process builds the order
status read model, and ``GET /v1/orders/{id}`` reads it back (read-your-writes)."""

from __future__ import annotations

import uuid

import httpx
import psycopg

from tests.e2e.processes import free_port, oms, wait_until_serving

KEYS = "erp:client:client-key,ana:agent:agent-key,bo:analyst:analyst-key"
ADDRESS = {"name": "Jo Doe", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}


def test_place_and_cancel_an_order_across_processes(database_url: str) -> None:
    port = free_port()
    env = {"DATABASE_URL": database_url, "OMS_API_KEYS": KEYS,
           "OMS_PROJECTION_POLL_INTERVAL": "0.2"}
    base = f"http://127.0.0.1:{port}"
    agent = {"Authorization": "Bearer agent-key"}
    with oms("project", env=env), oms("serve", "--port", str(port), env=env) as server:
        wait_until_serving(base, server)
        with httpx.Client(base_url=base, headers=agent, timeout=10) as http:
            assert http.post("/v1/locations", json={
                "id": "berlin-dc", "name": "Berlin DC", "kind": "warehouse", "priority": 1,
            }).status_code == 201
            assert http.post("/v1/inventory/JEANS-32/receipts", json={
                "location_id": "berlin-dc", "quantity": 5,
            }).status_code == 200
            customer = http.post("/v1/customers", json={
                "name": "Jo Doe", "email": "jo@example.com",
            })
            assert customer.status_code == 201, customer.text
            placed = http.post("/v1/orders", json={
                "customer_id": customer.json()["id"], "channel": "web", "currency": "EUR",
                "lines": [{"sku": "JEANS-32", "quantity": 2, "unit_price": "59.90",
                           "tax_rate": "0.19"},
                          {"sku": "BELT-1", "quantity": 1, "unit_price": "19.00"}],
                "shipping_address": ADDRESS,
            })
            assert placed.status_code == 201, placed.text
            order = placed.json()
            assert placed.headers["ETag"] == f'"{order["version"]}"'
            assert order["lines"][0]["allocated"] == [{"location_id": "berlin-dc", "quantity": 2}]
            assert order["lines"][1]["backordered"] == 1

            read = http.get(f"/v1/orders/{order['id']}",
                            params={"min_position": order["position"]})
            assert read.status_code == 200, read.text
            assert int(read.headers["X-Evident-Position"]) >= order["position"]
            view = read.json()
            assert view["status"] == "open"
            assert view["totals"]["ordered"] == "138.80"
            assert view["totals"]["tax"] == "22.76"

            cancelled = http.post(f"/v1/orders/{order['id']}/cancellations", json={
                "reason": "customer changed their mind",
            }, headers={"If-Match": f'"{order["version"]}"'})
            assert cancelled.status_code == 200, cancelled.text
            stale = http.post(f"/v1/orders/{order['id']}/cancellations", json={
                "reason": "again",
            }, headers={"If-Match": f'"{order["version"]}"'})
            assert stale.status_code == 412
            after = http.get(f"/v1/orders/{order['id']}",
                             params={"min_position": cancelled.json()["position"]}).json()
            assert after["status"] == "cancelled"
            assert after["lines"][0]["cancelled"] == 2
            assert after["lines"][0]["allocated"] == []

            missing = http.get(f"/v1/orders/{uuid.uuid4()}")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"

    with psycopg.connect(database_url) as conn:
        # The envelope carries the key's actor and role, and the reason the agent gave.
        rows = conn.execute(
            "SELECT actor, actor_role, channel, reason FROM events"
            " WHERE originator_id = %s ORDER BY originator_version",
            (uuid.UUID(order["id"]),),
        ).fetchall()
        assert rows == [("ana", "agent", "api", None),
                        ("ana", "agent", "api", "customer changed their mind")]
        # The stock reserved at placement was released in the cancelling transaction.
        tracked = conn.execute(
            "SELECT position FROM projection_tracking WHERE name = 'order_status'"
        ).fetchone()
        assert tracked is not None
        assert tracked[0] >= cancelled.json()["position"]
