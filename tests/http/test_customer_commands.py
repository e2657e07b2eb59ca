"""Customer commands and ``GET /v1/customers/{id}`` (API.md § Customers)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.http.conftest import (
    ADDRESS,
    AGENT,
    ANALYST,
    AUDITOR,
    UNKNOWN,
    if_match,
    ok,
    problem,
    register_customer,
)

HOME = {"label": "home", **ADDRESS}


def test_a_new_label_adds_an_address_and_a_known_label_changes_it(http: TestClient) -> None:
    customer = register_customer(http)
    url = f"/v1/customers/{customer}/addresses"

    added = ok(http.post(url, json=HOME), 201)
    assert added["id"] == customer
    moved = ok(http.post(url, json={**HOME, "line1": "Side St 2", "line2": "3rd floor"},
                         headers=if_match(added["version"])))
    assert moved["version"] == added["version"] + 1
    ok(http.post(url, json={**ADDRESS, "label": "office", "city": "Hamburg"}), 201)

    profile = ok(http.get(f"/v1/customers/{customer}"))
    assert [(a["label"], a["line1"], a["line2"], a["city"]) for a in profile["addresses"]] == [
        ("home", "Side St 2", "3rd floor", "Berlin"), ("office", "Main St 1", None, "Hamburg"),
    ]

    problem(http.post(url, json=HOME, headers=if_match(added["version"])), 412)
    problem(http.post(url, json={**HOME, "label": "new"}, headers=if_match(1)), 412)
    problem(http.post(f"/v1/customers/{UNKNOWN}/addresses", json=HOME), 404)
    problem(http.post(url, json={k: v for k, v in HOME.items() if k != "city"}), 422, "city")
    problem(http.post(url, json={**HOME, "country": "Germany"}), 422, "country")
    problem(http.post(url, json={**HOME, "floor": 3}), 422, "floor")
    problem(http.post(url, json={**HOME, "label": " "}), 422, "label")
    problem(http.post("/v1/customers/not-a-uuid/addresses", json=HOME), 422, "customer_id")


def test_a_blank_second_address_line_is_no_second_line(http: TestClient) -> None:
    customer = register_customer(http, address={**ADDRESS, "line2": ""})
    url = f"/v1/customers/{customer}/addresses"
    ok(http.post(url, json={**HOME, "label": "work", "line2": "   "}), 201)
    ok(http.post(url, json={**HOME, "label": "studio", "line2": " 2nd floor "}), 201)
    profile = ok(http.get(f"/v1/customers/{customer}"))
    assert {a["label"]: a["line2"] for a in profile["addresses"]} == {
        "default": None, "work": None, "studio": "2nd floor"}


def test_consents_are_granted_and_withdrawn_once_each(http: TestClient) -> None:
    customer = register_customer(http)
    url = f"/v1/customers/{customer}/consents"

    granted = ok(http.post(url, json={"channel": "email", "granted": True}))
    problem(http.post(url, json={"channel": "email", "granted": True}), 409)
    problem(http.post(url, json={"channel": "sms", "granted": False}), 409)
    ok(http.post(url, json={"channel": "sms", "granted": True}, headers=AGENT))
    withdrawn = ok(http.post(url, json={"channel": "sms", "granted": False}))
    assert withdrawn["version"] == granted["version"] + 2
    assert ok(http.get(f"/v1/customers/{customer}"))["consents"] == {"email": True,
                                                                     "sms": False}

    problem(http.post(url, json={"channel": "fax", "granted": True}), 422, "channel")
    problem(http.post(url, json={"channel": "email", "granted": "yes"}), 422, "granted")
    problem(http.post(url, json={"channel": "email"}), 422, "granted")
    problem(http.post(url, json={"channel": "email", "granted": True},
                      headers=if_match(granted["version"])), 412)
    problem(http.post(f"/v1/customers/{UNKNOWN}/consents",
                      json={"channel": "email", "granted": True}), 404)
    problem(http.post(url, json={"channel": "email", "granted": False}, headers=AUDITOR), 403)


def test_notes_are_created_with_their_own_id(http: TestClient) -> None:
    customer = register_customer(http)
    url = f"/v1/customers/{customer}/notes"

    note = ok(http.post(url, json={"text": "prefers phone calls"}, headers=AGENT), 201)
    other = ok(http.post(url, json={"text": "VIP"}, headers=if_match(note["version"])), 201)
    assert note["note_id"] != other["note_id"]
    assert other["version"] == note["version"] + 1

    problem(http.post(url, json={"text": ""}), 422, "text")
    problem(http.post(url, json={}), 422, "text")
    problem(http.post(url, json={"text": "x", "author": "me"}), 422, "author")
    problem(http.post(url, json={"text": "x"}, headers=if_match(note["version"])), 412)
    problem(http.post(f"/v1/customers/{UNKNOWN}/notes", json={"text": "x"}), 404)


def test_the_profile_shows_the_customer_and_analysts_see_it_masked(http: TestClient) -> None:
    customer = register_customer(http, phone="+49 30 1234", address=ADDRESS)
    response = http.get(f"/v1/customers/{customer}", headers=AUDITOR)
    profile = ok(response)
    assert response.headers["ETag"] == f'"{profile["version"]}"'
    assert profile == {
        "id": customer, "name": "Jo Doe", "email": "jo@example.com", "phone": "+49 30 1234",
        "addresses": [{"label": "default", **ADDRESS, "line2": None}],
        "consents": {"email": False, "sms": False}, "erased": False,
        "registered_at": profile["registered_at"], "version": 1,
    }

    masked = ok(http.get(f"/v1/customers/{customer}", headers=ANALYST))
    assert (masked["name"], masked["email"], masked["phone"]) == ("•••", "•••", "•••")
    assert masked["addresses"] == [{
        "label": "default", "name": "•••", "line1": "•••", "line2": None, "city": "Berlin",
        "postal_code": "10115", "country": "DE",
    }]
    assert "Jo Doe" not in str(masked)
    assert "Main St" not in str(masked)

    problem(http.get(f"/v1/customers/{UNKNOWN}"), 404)
    problem(http.get(f"/v1/customers/{customer}", headers={"Authorization": "Bearer nope"}),
            401)


def test_erasure_forgets_personal_data_and_refuses_new_personal_data(http: TestClient) -> None:
    customer = register_customer(http, phone="+49 30 1234", address=ADDRESS)
    url = f"/v1/customers/{customer}/erasure"
    ok(http.post(f"/v1/customers/{customer}/consents", json={"channel": "email",
                                                             "granted": True}))

    problem(http.post(url, json={}), 422, "reason")
    problem(http.post(url, json={"reason": "asked", "now": True}), 422, "now")
    problem(http.post(url, json={"reason": "asked"}, headers=if_match(1)), 412)
    erased = ok(http.post(url, json={"reason": "customer asked (GDPR art. 17)"},
                          headers=if_match(2)))
    assert erased["version"] == 3

    profile = ok(http.get(f"/v1/customers/{customer}"))
    assert profile["erased"] is True
    assert (profile["name"], profile["email"], profile["phone"]) == (None, None, None)
    assert profile["addresses"] == []
    assert profile["consents"] == {"email": False, "sms": False}

    problem(http.post(url, json={"reason": "again"}), 409)
    problem(http.post(f"/v1/customers/{customer}/notes", json={"text": "x"}), 409)
    problem(http.post(f"/v1/customers/{customer}/addresses", json=HOME), 409)
    problem(http.post(f"/v1/customers/{UNKNOWN}/erasure", json={"reason": "x"}), 404)


def test_a_malformed_email_is_refused_naming_the_email_field(http: TestClient) -> None:
    body = problem(http.post("/v1/customers", json={"name": "Jo Doe", "email": "nope"}), 422,
                   "email")
    assert "name@example.com" in body["detail"]


def test_a_phone_with_letters_is_refused_naming_the_phone_field(http: TestClient) -> None:
    body = problem(http.post("/v1/customers", json={"name": "Jo Doe", "email": "jo@example.com",
                                                    "phone": "call me"}), 422, "phone")
    assert "digits" in body["detail"]
