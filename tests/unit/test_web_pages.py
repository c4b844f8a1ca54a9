"""The web pages' serving rules, on a bare FastAPI app (no store, no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.errors import NotFound
from query.http.pages import CONTENT_SECURITY_POLICY, WEB_DIR, load_web_files, register_pages


@pytest.fixture()
def client() -> TestClient:
    app = FastAPI()

    @app.exception_handler(NotFound)
    async def _not_found(request: object, exc: NotFound) -> object:
        from fastapi.responses import JSONResponse

        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, 404)

    register_pages(app)
    return TestClient(app)


def test_the_activity_page_and_the_subscriptions_page_are_html_with_a_strict_csp(
    client: TestClient,
) -> None:
    for path, script in (
        ("/", "/static/activity.js"),
        ("/customers/cust%20%22x%22/subscriptions", "/static/subscriptions.js"),
    ):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert f'src="{script}"' in response.text


def test_the_policy_allows_only_this_origin_and_no_inline_code() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_static_files_have_their_media_type(client: TestClient) -> None:
    assert client.get("/static/activity.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("name", ["nope.js", "..%2Fpages.py", "%2E%2E%2Fapi.py", "index.htm"])
def test_only_files_of_the_web_folder_are_served(client: TestClient, name: str) -> None:
    # Not in the allowlist, or not even a name the route matches: 404 either way.
    assert client.get(f"/static/{name}").status_code == 404


def test_an_unknown_static_file_is_a_json_not_found(client: TestClient) -> None:
    response = client.get("/static/nope.js")
    assert response.json()["error"] == {"code": "not_found", "message": "no static file 'nope.js'"}


def test_the_pages_reference_no_other_origin() -> None:
    for path in WEB_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path.name


def test_every_script_and_stylesheet_the_pages_load_exists() -> None:
    files = load_web_files()
    for page in ("index.html", "subscriptions.html"):
        html = files[page].body.decode()
        for name in ("style.css", "favicon.svg"):
            assert f"/static/{name}" in html
    assert {"common.js", "activity.js", "subscriptions.js"} <= set(files)


def test_a_missing_page_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    with pytest.raises(FileNotFoundError, match=r"subscriptions\.html"):
        load_web_files(tmp_path)
