"""Every error the API answers, by one road: `{"error": {"code", "message"}}` (docs/contracts.md).

A typed error (common/errors.py) brings its own status and code; the
framework's own refusals (validation, unknown route, wrong method) and an
unexpected failure are turned into the same body. No answer carries a
stack trace: an unexpected failure is logged and answers 500 `internal`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import ActivityLogError, BadQuery, Internal, NotFound, StoreUnavailable

log = logging.getLogger(__name__)

# The code of a framework refusal other than 404 (e.g. 405).
HTTP_ERROR_CODE = "http_error"


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The answer to every failed request: `status` with `{"error": {"code", "message"}}`."""
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def typed_error_response(error: ActivityLogError) -> JSONResponse:
    """The answer for a typed error: its own status, code, message and headers."""
    return error_response(error.http_status, error.code, error.message, error.http_headers())


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error raised in `app`'s routes and dependencies with the JSON error."""
    app.add_exception_handler(ActivityLogError, _typed_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _typed_error(request: Request, exc: ActivityLogError) -> JSONResponse:
    if isinstance(exc, StoreUnavailable):
        log.warning("store error on %s: %s", request.url.path, exc.message)
    return typed_error_response(exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
    return typed_error_response(BadQuery(where, first.get("msg", "invalid")))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == NotFound.http_status:
        return typed_error_response(NotFound(str(exc.detail)))
    return error_response(exc.status_code, HTTP_ERROR_CODE, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return typed_error_response(Internal("internal error; the server log has the details"))
