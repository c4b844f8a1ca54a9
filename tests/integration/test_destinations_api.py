"""`/api/v1/destinations` on the real app and a real chDB store: scope, secrets, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from common.destination_key import destinations_key
from common.settings import Settings
from common.store import Store
from query.http.app import create_api
from schemas.destination_table import read_destinations
from schemas.destinations import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    derive_secret,
    secret_fingerprint,
    signature_valid,
)
from tests.fixtures.activity import ADMIN, KEYS, NOW, A, B
from tests.fixtures.receiver import Receiver


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        api_keys=KEYS,
        state_dir=tmp_path_factory.mktemp("state"),
        destinations_allow_loopback=True,
    )


@pytest.fixture(scope="module")
def client(store: Store, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_api(store, settings, now=lambda: NOW)) as test_client:
        yield test_client


def create(client: TestClient, headers: dict[str, str], **body: object) -> dict[str, object]:
    response = client.post("/api/v1/destinations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def test_create_shows_the_secret_once_and_stores_none_of_it(
    client: TestClient, store: Store, settings: Settings
) -> None:
    created = create(
        client, A, url="http://127.0.0.1:9/in", actions=["customer.create"], kinds=["order"]
    )
    secret = str(created["secret"])
    assert created["partner_id"] == "ptn-a"
    assert created["state"] == "active"
    assert created["secret_fingerprint"] == secret_fingerprint(secret)
    assert created["actions"] == ["customer.create"] and created["kinds"] == ["order"]
    # The secret is derived from the server's key (mode 0600 file) and the stored salt.
    key_file = Path(settings.state_dir) / "destinations.key"
    assert key_file.stat().st_mode & 0o077 == 0
    stored = [d for d in read_destinations(store) if d.destination_id == created["id"]]
    assert derive_secret(destinations_key(settings), stored[0].destination_id, stored[0].salt) == (
        secret
    )
    raw = store.query_rows("SELECT * FROM destinations")
    assert all(secret not in str(row) for row in raw)
    listed = client.get("/api/v1/destinations", headers=A).json()["destinations"]
    assert created["id"] in [d["id"] for d in listed]
    assert all("secret" not in d and "salt" not in d for d in listed)
    one = client.get(f"/api/v1/destinations/{created['id']}", headers=A).json()
    assert "secret" not in one and one["url"] == "http://127.0.0.1:9/in"


def test_partners_see_and_remove_only_their_own(client: TestClient) -> None:
    mine = create(client, A, url="http://127.0.0.1:9/a")
    theirs = create(client, B, url="http://127.0.0.1:9/b")
    listed_b = [
        d["id"] for d in client.get("/api/v1/destinations", headers=B).json()["destinations"]
    ]
    assert theirs["id"] in listed_b and mine["id"] not in listed_b
    assert client.get(f"/api/v1/destinations/{mine['id']}", headers=B).status_code == 404
    assert client.delete(f"/api/v1/destinations/{mine['id']}", headers=B).status_code == 404
    admin = [
        d["id"] for d in client.get("/api/v1/destinations", headers=ADMIN).json()["destinations"]
    ]
    assert {mine["id"], theirs["id"]} <= set(admin)
    gone = client.delete(f"/api/v1/destinations/{mine['id']}", headers=A)
    assert gone.status_code == 200 and gone.json()["state"] == "deleted"
    assert client.get(f"/api/v1/destinations/{mine['id']}", headers=A).status_code == 404
    listed_a = [
        d["id"] for d in client.get("/api/v1/destinations", headers=A).json()["destinations"]
    ]
    assert mine["id"] not in listed_a


def test_an_all_partners_key_names_the_partner(client: TestClient) -> None:
    created = create(client, ADMIN, url="http://127.0.0.1:9/c", partner_id="ptn-c")
    assert created["partner_id"] == "ptn-c"
    missing = client.post(
        "/api/v1/destinations", json={"url": "http://127.0.0.1:9/"}, headers=ADMIN
    )
    assert missing.status_code == 400 and "partner_id" in missing.json()["error"]["message"]
    other = client.post(
        "/api/v1/destinations",
        json={"url": "http://127.0.0.1:9/", "partner_id": "ptn-b"},
        headers=A,
    )
    assert other.status_code == 400 and "partner_id" in other.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://93.184.216.34/in"}, "url"),  # not https to a public host
        ({"url": "https://10.0.0.8/in"}, "url"),  # private address
        ({"url": "https://169.254.169.254/"}, "url"),  # metadata
        ({"url": "https://93.184.216.34/", "events": ["x"]}, "events"),  # unknown filter field
        ({"url": "https://93.184.216.34/", "kinds": ["nope"]}, "kinds"),
        ([1, 2], "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client: TestClient, body: object, field: str) -> None:
    response = client.post("/api/v1/destinations", json=body, headers=A)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request" and error["message"].startswith(field + ":")


def test_without_a_key_it_is_401(client: TestClient) -> None:
    assert client.get("/api/v1/destinations").status_code == 401
    assert client.post("/api/v1/destinations", json={"url": "https://x"}).status_code == 401


def test_a_test_request_is_signed_and_reports_the_answer(client: TestClient) -> None:
    answering = Receiver(script=lambda n: (200, {}) if n == 0 else (503, {}))
    try:
        created = create(client, A, url=answering.url)
        first = client.post(f"/api/v1/destinations/{created['id']}/test", headers=A).json()
        assert first == {"id": created["id"], "ok": True, "status": 200, "reason": ""}
        second = client.post(f"/api/v1/destinations/{created['id']}/test", headers=A).json()
        assert (second["ok"], second["reason"]) == (False, "HTTP 503")
        sent = answering.requests[0]
        assert json.loads(sent.body) == {
            "destination_id": created["id"],
            "activities": [],
            "test": True,
        }
        assert signature_valid(
            str(created["secret"]),
            sent.headers[TIMESTAMP_HEADER],
            sent.body,
            sent.headers[SIGNATURE_HEADER],
        )
        assert (
            client.post(f"/api/v1/destinations/{created['id']}/test", headers=B).status_code == 404
        )
    finally:
        answering.close()
