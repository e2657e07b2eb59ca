"""Every command and read of API.md v1 is served and described in ``/openapi.json``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.http.conftest import ok

ENDPOINTS = [
    ("post", "/v1/locations"),
    ("post", "/v1/inventory/{sku}/receipts"),
    ("post", "/v1/inventory/{sku}/adjustments"),
    ("put", "/v1/inventory/{sku}/safety-stock"),
    ("get", "/v1/inventory/{sku}"),
    ("get", "/v1/inventory"),
    ("post", "/v1/customers"),
    ("post", "/v1/customers/{customer_id}/addresses"),
    ("post", "/v1/customers/{customer_id}/consents"),
    ("post", "/v1/customers/{customer_id}/notes"),
    ("post", "/v1/customers/{customer_id}/erasure"),
    ("get", "/v1/customers/{customer_id}"),
    ("get", "/v1/customers/{customer_id}/dashboard"),
    ("post", "/v1/orders"),
    ("post", "/v1/orders/{order_id}/cancellations"),
    ("put", "/v1/orders/{order_id}/shipping-address"),
    ("post", "/v1/orders/{order_id}/holds"),
    ("post", "/v1/orders/{order_id}/holds/{hold_id}/release"),
    ("post", "/v1/orders/{order_id}/holds/{hold_id}/rejection"),
    ("post", "/v1/orders/{order_id}/payments/authorizations"),
    ("post", "/v1/orders/{order_id}/payments/authorization-failures"),
    ("post", "/v1/orders/{order_id}/payments/captures"),
    ("post", "/v1/orders/{order_id}/payments/voids"),
    ("post", "/v1/orders/{order_id}/payments/refunds"),
    ("post", "/v1/orders/{order_id}/shipments"),
    ("post", "/v1/orders/{order_id}/shipments/{shipment_id}/delivery"),
    ("post", "/v1/orders/{order_id}/shipments/{shipment_id}/exceptions"),
    ("post", "/v1/orders/{order_id}/backorders/allocation"),
    ("post", "/v1/orders/{order_id}/returns"),
    ("post", "/v1/orders/{order_id}/returns/{return_id}/approval"),
    ("post", "/v1/orders/{order_id}/returns/{return_id}/receipt"),
    ("post", "/v1/orders/{order_id}/returns/{return_id}/refund"),
    ("post", "/v1/orders/{order_id}/adjustments"),
    ("post", "/v1/orders/{order_id}/notes"),
    ("get", "/v1/orders"),
    ("get", "/v1/orders/{order_id}"),
    ("get", "/v1/orders/{order_id}/timeline"),
]

CREATED = {"/v1/orders/{order_id}/holds": "hold_id",
           "/v1/orders/{order_id}/shipments": "shipment_id",
           "/v1/orders/{order_id}/returns": "return_id"}


def test_the_openapi_document_lists_every_endpoint_of_the_contract(http: TestClient) -> None:
    document = ok(http.get("/openapi.json", headers={"Authorization": ""}))
    paths = document["paths"]
    missing = [(m, p) for m, p in ENDPOINTS if m not in paths.get(p, {})]
    assert missing == []
    for path, field in CREATED.items():
        answer = paths[path]["post"]["responses"]["201"]["content"]["application/json"]
        schema = document["components"]["schemas"][answer["schema"]["$ref"].rsplit("/", 1)[1]]
        assert field in schema["properties"]
