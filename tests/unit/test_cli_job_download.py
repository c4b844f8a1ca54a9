"""`export --job`'s download: a transfer broken in the middle resumes with Range + If-Range.

The HTTP side is an in-memory transport that serves a file with Range
support and cuts the first transfers short, the way a dropped connection
does; the server's own Range handling is tested against a real server in
tests/integration/test_export_jobs.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activitylog.cli.jobs import JobClient
from common.errors import ActivityLogError, RangeNotSatisfiable
from query.client import HttpReader
from query.http.range import etag_for, if_range_matches, parse_range

FILE = bytes(range(256)) * 4096  # 1 MiB of known bytes
SHA = hashlib.sha256(FILE).hexdigest()


class _Breaking(httpx.SyncByteStream):
    """A body that raises after `cut` bytes, like a connection dropped mid-transfer."""

    def __init__(self, data: bytes, cut: int | None) -> None:
        self.data = data
        self.cut = cut

    def __iter__(self) -> Iterator[bytes]:
        if self.cut is None:
            yield self.data
            return
        yield self.data[: self.cut]
        raise httpx.ReadError("connection reset by peer")


class _Server:
    """Serves FILE at /download like the API does; the first `breaks` transfers break."""

    def __init__(self, breaks: int, content: bytes = FILE) -> None:
        self.breaks = breaks
        self.content = content
        self.ranges: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.ranges.append(request.headers.get("range"))
        etag = etag_for(SHA)
        headers = {"ETag": etag, "Accept-Ranges": "bytes"}
        status, body = 200, self.content
        if if_range_matches(request.headers.get("if-range"), etag):
            try:
                wanted = parse_range(request.headers.get("range"), len(self.content))
            except RangeNotSatisfiable:
                return httpx.Response(416, json={"error": {"code": "x", "message": "x"}})
            if wanted is not None:
                status = 206
                body = self.content[wanted.first : wanted.last + 1]
                headers["Content-Range"] = wanted.content_range()
        cut = None
        if self.breaks > 0:
            self.breaks -= 1
            cut = len(body) // 3
        return httpx.Response(status, headers=headers, stream=_Breaking(body, cut))


def _client(server: _Server) -> JobClient:
    reader = HttpReader("http://jobs.test", None)
    reader.http = httpx.Client(base_url="http://jobs.test", transport=httpx.MockTransport(server))
    return JobClient(reader, sleep=lambda s: None)


STATUS = {"id": "exp_x", "sha256": SHA, "download_url": "/download"}


def test_a_broken_transfer_resumes_where_it_stopped(tmp_path: Path) -> None:
    server = _Server(breaks=2)
    target = tmp_path / "out.csv"
    resumed = _client(server).download(STATUS, target)
    assert target.read_bytes() == FILE
    assert resumed == 2
    assert server.ranges[0] is None
    first_cut = len(FILE) // 3
    assert server.ranges[1] == f"bytes={first_cut}-"
    assert server.ranges[2] == f"bytes={first_cut + (len(FILE) - first_cut) // 3}-"
    assert not (tmp_path / ".out.csv.part").exists()


def test_a_file_that_does_not_hash_to_the_job_sha256_is_refused(tmp_path: Path) -> None:
    server = _Server(breaks=0, content=FILE[:-1] + b"X")
    target = tmp_path / "out.csv"
    with pytest.raises(ActivityLogError, match="SHA-256"):
        _client(server).download(STATUS, target)
    assert not target.exists()
    assert not (tmp_path / ".out.csv.part").exists()


def test_a_download_that_keeps_breaking_gives_up_with_a_reason(tmp_path: Path) -> None:
    server = _Server(breaks=100)
    with pytest.raises(ActivityLogError, match="kept breaking"):
        _client(server).download(STATUS, tmp_path / "out.csv")
