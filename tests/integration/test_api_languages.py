"""Readable texts in the reader's language, through the real app and the real chDB store.

The rows were stored once (their English texts too); pages, records and
every export render them at read time in `lang`, or the `Accept-Language`
the request sends. Machine fields (codes, ids, UTC timestamps) and the
rows and their order never change with the language; a French export's
manifest says `lang: fr` and verifies.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from activitylog.cli import main
from common.settings import Settings
from common.store import Store
from query.http.app import create_api
from schemas.readable.render import READABLE_COLUMNS
from tests.fixtures.activity import KEYS, NOW, A, eid

NOV = {"from": "2026-11-01", "to": "2026-11-30"}
SIGNING_KEY = "languages-test-signing-key"
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7"}


@pytest.fixture(scope="module")
def client(store: Store) -> Iterator[TestClient]:
    settings = Settings(
        api_keys=KEYS, export_signing_key=SIGNING_KEY, export_signing_key_id="lang-key"
    )
    with TestClient(create_api(store, settings, now=lambda: NOW)) as test_client:
        yield test_client


def _page(client: TestClient, headers: dict[str, str] | None = None, **params: str) -> Any:
    response = client.get(
        "/api/v1/activity", params=NOV | {"limit": "1000"} | params, headers=A | (headers or {})
    )
    assert response.status_code == 200, response.text
    return response.json()


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["event_id"]: item for item in items}


def test_a_french_page_reads_in_french_with_the_same_machine_fields(client: TestClient) -> None:
    en, fr = _page(client, lang="en"), _page(client, lang="fr")
    assert fr["lang"] == "fr" and en["lang"] == "en"
    assert [i["event_id"] for i in fr["items"]] == [i["event_id"] for i in en["items"]]
    for english, french in zip(en["items"], fr["items"], strict=True):
        machine = {k: v for k, v in english.items() if k not in READABLE_COLUMNS}
        assert {k: v for k, v in french.items() if k not in READABLE_COLUMNS} == machine
    order = _by_id(fr["items"])[eid("order-cafe")]
    assert order["action_text"] == "Commande terminée : Microsoft 365 E3, Teams Phone Standard"
    assert order["status_text"] == "Commande ord-cafe-1 : terminée"
    assert order["additional_info"].startswith(
        "3 × Microsoft 365 E3 (33,60\u00a0€, 1 an, facturation mensuelle); "
    )
    quantity = _by_id(fr["items"])[eid("qty")]
    assert quantity["action_text"] == "Quantité de l’abonnement modifiée : Microsoft 365 E3"
    assert quantity["status_text"] == "Réussi (abonnement sub-1)"
    assert quantity["additional_info"] == "Quantité : 3 → 8"
    assert _by_id(en["items"])[eid("qty")]["additional_info"] == "Quantity: 3 → 8"


def test_accept_language_chooses_when_lang_is_absent(client: TestClient) -> None:
    french = client.get("/api/v1/activity", params=NOV, headers=A | FRENCH)
    assert french.json()["lang"] == "fr" and french.headers["content-language"] == "fr"
    assert "Accept-Language" in french.headers["vary"]
    assert _page(client, {"Accept-Language": "de-DE, fr;q=0.5"})["lang"] == "fr"
    assert _page(client, {"Accept-Language": "de-DE"})["lang"] == "en"  # none supported: en
    assert _page(client, FRENCH, lang="en")["lang"] == "en"  # `lang` wins over the header
    assert _page(client)["lang"] == "en"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/activity",
        f"/api/v1/activity/{eid('qty')}",
        "/api/v1/activity/export",
    ],
)
def test_an_unsupported_lang_is_a_400_naming_the_supported_ones(
    client: TestClient, path: str
) -> None:
    response = client.get(path, params=NOV | {"lang": "de"}, headers=A)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "'de'" in error["message"] and "en, fr" in error["message"]


def test_a_french_record_and_its_lifecycle_read_in_french(client: TestClient) -> None:
    response = client.get(f"/api/v1/activity/{eid('qty')}", headers=A | FRENCH)
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["action_text"].startswith("Quantité de l’abonnement modifiée")
    assert record["details"] == {"old": {"quantity": 3}, "new": {"quantity": 8}}
    assert record["changes"][0]["field"] == "quantity"  # machine fields stay as stored
    english = client.get(f"/api/v1/activity/{eid('qty')}", params={"lang": "en"}, headers=A)
    assert english.json()["occurred_at"] == record["occurred_at"]


def _export(client: TestClient, fmt: str, lang: str) -> tuple[bytes, str]:
    response = client.get(
        "/api/v1/activity/export", params=NOV | {"format": fmt, "lang": lang}, headers=A
    )
    assert response.status_code == 200, response.text
    return response.content, response.headers["x-activitylog-export-id"]


def _csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_a_french_csv_has_french_headers_and_cells_and_the_same_rows(client: TestClient) -> None:
    en, fr = _csv(_export(client, "csv", "en")[0]), _csv(_export(client, "csv", "fr")[0])
    assert fr[0] == [
        "Date (UTC)",
        "Client affecté",
        "Action",
        "Utilisateur partenaire",
        "État",
        "Informations supplémentaires",
    ]
    assert len(fr) == len(en) > 20
    # Same rows, same order: the date, the customer and the partner user agree line by line.
    assert [(r[0], r[1], r[3]) for r in fr][1:] == [(r[0], r[1], r[3]) for r in en][1:]
    actions = {r[2] for r in fr[1:]}
    assert "Commande terminée : Microsoft 365 E3, Teams Phone Standard" in actions
    assert "Mot de passe réinitialisé : user0@contoso.example" in actions
    assert any(r[5] == "Ville : Köln → Bonn" for r in fr[1:])
    assert not any(r[4].startswith(("Succeeded", "Failed")) for r in fr[1:])


def test_french_jsonl_and_parquet_differ_from_english_only_in_readable_columns(
    client: TestClient,
) -> None:
    en = [orjson.loads(line) for line in _export(client, "jsonl", "en")[0].splitlines()]
    fr = [orjson.loads(line) for line in _export(client, "jsonl", "fr")[0].splitlines()]
    assert len(fr) == len(en) > 20
    for english, french in zip(en, fr, strict=True):
        assert {k: v for k, v in french.items() if k not in READABLE_COLUMNS} == {
            k: v for k, v in english.items() if k not in READABLE_COLUMNS
        }
    assert any(r["status_text"].startswith("Réussi") for r in fr)
    table_en = pq.read_table(io.BytesIO(_export(client, "parquet", "en")[0]))
    table_fr = pq.read_table(io.BytesIO(_export(client, "parquet", "fr")[0]))
    assert table_fr.schema == table_en.schema and table_fr.num_rows == table_en.num_rows
    for name in table_en.column_names:
        if name not in READABLE_COLUMNS:
            assert table_fr.column(name).equals(table_en.column(name)), name
    french_actions = table_fr.column("action_text").to_pylist()
    assert [r["action_text"] for r in fr] == french_actions  # one renderer for both formats


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_french_exports_manifest_says_fr_and_verifies(
    client: TestClient,
    fmt: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ACTIVITYLOG_EXPORT_SIGNING_KEY", SIGNING_KEY)
    data, export_id = _export(client, fmt, "fr")
    response = client.get(f"/api/v1/exports/{export_id}/manifest", headers=A)
    assert response.status_code == 200, response.text
    manifest = response.json()
    assert manifest["lang"] == "fr"
    if fmt == "csv":
        assert manifest["columns"][1] == "Client affecté"
    file = tmp_path / f"export.{fmt}"
    file.write_bytes(data)
    (tmp_path / f"export.{fmt}.manifest.json").write_bytes(response.content)
    assert main(["verify", str(file)]) == 0
    assert capsys.readouterr().out.startswith("OK")


def test_subscriptions_say_their_status_and_last_action_in_the_readers_language(
    client: TestClient,
) -> None:
    path = "/api/v1/customers/cust-cafe/subscriptions"
    english = client.get(path, headers=A)
    french = client.get(path, headers=A | FRENCH)
    assert english.status_code == french.status_code == 200, french.text
    en_items, fr_items = english.json()["items"], french.json()["items"]
    assert [i["status"] for i in fr_items] == [i["status"] for i in en_items]  # codes stay
    texts = {(i["status"], i["status_text"], i["last_action_text"]) for i in fr_items}
    assert ("active", "Actif", "Abonnement réactivé") in texts
    assert {i["status_text"] for i in en_items} <= {"Active", "Suspended", "Cancelled"}
    assert client.get(path, params={"lang": "xx"}, headers=A).status_code == 400


def test_the_catalog_route_gives_the_page_the_texts_of_codes(client: TestClient) -> None:
    french = client.get("/api/v1/texts", headers=FRENCH)  # no key: texts, not data
    assert french.status_code == 200, french.text
    body = french.json()
    assert body["lang"] == "fr" and body["languages"] == ["en", "fr"]
    assert body["messages"]["term.P1Y"] == "1 an"
    assert body["messages"]["field.quantity"] == "Quantité"
    assert client.get("/api/v1/texts", params={"lang": "en"}).json()["messages"]["term.P1Y"] == (
        "1 year"
    )
    assert client.get("/api/v1/texts", params={"lang": "de"}).status_code == 400
