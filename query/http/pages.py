"""The web pages (docs/contracts.md): the activity log at `/` and a customer's Subscriptions page.

Plain HTML, CSS and JavaScript from `query/http/web/`, served by the API process
itself: no build step, no CDN, nothing fetched from another origin. The pages
read everything through the JSON API, so they see exactly what an API client
with the same key sees (partner scoping included).

Every page and file is sent with a strict Content-Security-Policy (self only,
no inline script or style): customer names are attacker-controlled text, and
the CSP is the second line of defence behind the scripts' use of textContent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

from common.errors import NotFound

WEB_DIR = Path(__file__).parent / "web"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Small files, rarely changed: revalidate so an upgrade is seen on the next load.
    "Cache-Control": "no-cache",
}
MEDIA_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
ACTIVITY_PAGE = "index.html"
SUBSCRIPTIONS_PAGE = "subscriptions.html"


@dataclass(frozen=True)
class WebFile:
    """One file of the web folder, read once at start-up."""

    body: bytes
    media_type: str

    def response(self) -> Response:
        return Response(self.body, media_type=self.media_type, headers=dict(SECURITY_HEADERS))


def load_web_files(web_dir: Path = WEB_DIR) -> dict[str, WebFile]:
    """Every servable file of `web_dir` by name.

    Read once so a request can only ever name a file in this allowlist: no
    path from the URL reaches the filesystem.
    """
    files: dict[str, WebFile] = {}
    for path in sorted(web_dir.iterdir()):
        media_type = MEDIA_TYPES.get(path.suffix)
        if path.is_file() and media_type is not None:
            files[path.name] = WebFile(path.read_bytes(), media_type)
    for required in (ACTIVITY_PAGE, SUBSCRIPTIONS_PAGE):
        if required not in files:
            raise FileNotFoundError(f"the web page {web_dir / required} is missing")
    return files


def register_pages(app: FastAPI, *, web_dir: Path = WEB_DIR) -> None:
    """Serve `/`, `/customers/{customer_id}/subscriptions` and `/static/{name}` on `app`."""
    files = load_web_files(web_dir)

    @app.get("/", include_in_schema=False)
    def activity_page() -> Response:
        return files[ACTIVITY_PAGE].response()

    @app.get("/customers/{customer_id}/subscriptions", include_in_schema=False)
    def subscriptions_page(customer_id: str) -> Response:
        # The page reads the customer id from its own URL and asks the API.
        return files[SUBSCRIPTIONS_PAGE].response()

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        found = files.get(name)
        if found is None:
            raise NotFound(f"no static file {name!r}")
        return found.response()
