"""The sender on real sockets and real TLS: it connects to the address the guard checked,
verifies the certificate against the host name, and never sends to a refused address."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from processors.delivery.sender import DELIVERED, REFUSED, RETRY, Sender
from schemas.destinations import STATE_ACTIVE, Destination, NetworkPolicy, signature_valid

NOW = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[dict[str, Any]]]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only `hook.test`."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    names = ["-subj", "/CN=hook.test", "-addext", "subjectAltName=DNS:hook.test"]
    subprocess.run(
        [*request, *names, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    seen: list[dict[str, Any]] = []
    sni: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"headers": dict(self.headers), "body": body, "sni": sni[-1]})
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], cert, seen
    finally:
        server.shutdown()
        server.server_close()


def destination(url: str) -> Destination:
    return Destination(
        "dst_" + "1" * 24, "ptn-a", url, "", (), (), (), "s", "f", NOW, "t",
        STATE_ACTIVE, "", NOW,
    )  # fmt: skip


def test_https_goes_to_the_checked_address_with_the_host_name_verified(
    tls_server: tuple[int, Path, list[dict[str, Any]]],
) -> None:
    port, cert, seen = tls_server
    trust = ssl.create_default_context(cafile=str(cert))
    loopback = NetworkPolicy(allow_loopback=True)

    async def run() -> list[Any]:
        sender = Sender(loopback, timeout=5, resolve=lambda h, p: ["127.0.0.1"], ssl_context=trust)
        try:
            good = await sender.send(
                destination(f"https://hook.test:{port}/in"), "k", b"{}", ["e1"]
            )
            wrong = await sender.send(destination(f"https://other.test:{port}/in"), "k", b"{}", [])
            strict = Sender(NetworkPolicy(), timeout=5, resolve=lambda h, p: ["127.0.0.1"])
            refused = await strict.send(destination(f"https://hook.test:{port}/in"), "k", b"{}", [])
            await strict.close()
            return [good, wrong, refused]
        finally:
            await sender.close()

    good, wrong, refused = asyncio.run(run())
    assert good.kind == DELIVERED
    assert wrong.kind == RETRY and "CERTIFICATE_VERIFY_FAILED" in wrong.reason
    assert refused.kind == REFUSED and "loopback" in refused.reason
    assert len(seen) == 1  # neither the wrong name nor the refused address got a request
    request = seen[0]
    assert request["sni"] == "hook.test"
    assert request["headers"]["Host"] == f"hook.test:{port}"
    headers = request["headers"]
    assert signature_valid(
        "k", headers["X-Activitylog-Timestamp"], request["body"], headers["X-Activitylog-Signature"]
    )
