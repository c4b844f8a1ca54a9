"""The OpenAPI document tells the truth about errors, for every route the app has.

FastAPI declares a 422 with its own validation body on every operation with
parameters, but this API answers bad input with 400 and the JSON error
`{"error": {"code", "message"}}` (docs/contracts.md), and it can also answer 401
(API key), 404 (a path id that does not exist or belongs to another
partner), 413/414 (request limits), 503 (store unavailable) and, for a bug,
500 with the same body. Each status is the one its error class
(common/errors.py) carries, so the document and the answers cannot drift.
Clients generated from the document, and the schemathesis run in
`tests/integration/test_fuzz_api.py`, rely on those declarations. The rules
below walk the routes when the document is built, so routes added later
(export jobs, manifests) are declared the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from common.errors import (
    ActivityLogError,
    BadQuery,
    Gone,
    Internal,
    NotFound,
    NotReady,
    PayloadTooLarge,
    RangeNotSatisfiable,
    StoreUnavailable,
    TooManyJobs,
    Unauthorized,
    UriTooLong,
)

ERROR_SCHEMA = "Error"
_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
# What a client reads for each error the API answers; one per status, the status the error's.
_DESCRIBED: dict[type[ActivityLogError], str] = {
    BadQuery: "Bad input: a malformed or out-of-range parameter, named in the message.",
    Unauthorized: "A missing or unknown API key.",
    NotFound: "Not found, or another partner's: the same answer either way.",
    PayloadTooLarge: "The request body is larger than the server's limit.",
    UriTooLong: "The query string is longer than the server's limit.",
    NotReady: "Not ready yet (e.g. an export job still running).",
    Gone: "Gone (e.g. an export file expired, deleted or cancelled).",
    RangeNotSatisfiable: "The requested byte range starts past the end of the file.",
    TooManyJobs: "Too many requests of this kind at once; retry later.",
    Internal: "An unexpected failure; the server log has the details (no stack trace here).",
    StoreUnavailable: "The store is unavailable; retry later.",
}
_DESCRIPTIONS: dict[int, str] = {error.http_status: text for error, text in _DESCRIBED.items()}


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable, e.g. `bad_request`, `not_found`.")
    message: str = Field(description="What went wrong, naming the parameter or the limit.")


class ErrorBody(BaseModel):
    """Every error the API answers: `{"error": {"code", "message"}}`."""

    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route decorator declaring codes the shape rules cannot guess.

    E.g. `@router.get(..., responses=error_responses(409, 410, 416))`; each with
    the JSON error body. The codes of `error_codes` are added anyway.
    """
    return {
        code: {
            "description": _DESCRIPTIONS.get(code, "Error"),
            "content": {"application/json": {"schema": _REF}},
        }
        for code in codes
    }


def error_codes(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an operation can answer, from its shape."""
    params = operation.get("parameters", [])
    has_body = "requestBody" in operation or method in ("post", "put", "patch")
    errors: list[type[ActivityLogError]] = [Internal]
    if path.startswith("/api/"):
        errors += [Unauthorized, StoreUnavailable]
    if params or has_body:
        errors.append(BadQuery)
    if any(p.get("in") == "path" for p in params):
        errors.append(NotFound)
    if any(p.get("in") == "query" for p in params):
        errors.append(UriTooLong)
    if has_body:
        errors.append(PayloadTooLarge)
    return sorted(error.http_status for error in errors)


def declare_error_responses(app: FastAPI) -> None:
    """Replace FastAPI's 422 with the errors this API really answers, on every operation."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components[ERROR_SCHEMA] = _error_schema()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for code, declared in error_responses(
                    *error_codes(path, method, operation)
                ).items():
                    responses.setdefault(str(code), declared)
        if "HTTPValidationError" not in str(schema.get("paths")):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_schema() -> dict[str, Any]:
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    detail = definitions["ErrorDetail"]
    schema["properties"]["error"] = detail
    schema["title"] = ERROR_SCHEMA
    return schema
