"""Who is asking: the API key of a request, checked in constant time, as a typed `Caller`.

Keys come as `Authorization: Bearer KEY` or `X-API-Key`. Each configured key
is scoped to one partner, or to every partner (`*`); without configured keys
(a loopback-only server) every caller sees every partner.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request

from common.errors import Unauthorized
from common.settings import ALL_PARTNERS
from query.headers import USER_HEADER
from query.http.services import ServicesDep
from query.manifests.model import key_fingerprint

UNAUTHENTICATED: Final = "unauthenticated"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
MAX_USER_CHARS = 200


@dataclass(frozen=True)
class Caller:
    """The caller's partner scope (None: every partner) and who they are in a manifest."""

    partner_id: str | None
    created_by: str


def authenticate(request: Request, services: ServicesDep) -> Caller:
    """The dependency every data route takes: 401 without a key this server knows."""
    api_keys = services.settings.api_keys
    if api_keys is None:
        return Caller(None, caller_identity(request, None, None))
    key = _presented_key(request)
    if key is None:
        raise Unauthorized("send an API key as `Authorization: Bearer KEY` or `X-API-Key`")
    partner = _match_key(key, api_keys)
    if partner is None:
        raise Unauthorized("unknown API key")
    scope = None if partner == ALL_PARTNERS else partner
    return Caller(scope, caller_identity(request, api_keys, key))


CallerDep = Annotated[Caller, Depends(authenticate)]


def caller_identity(
    request: Request, api_keys: Mapping[str, str] | None, presented: str | None
) -> str:
    """`created_by` for an HTTP export: `[USER via ]key:FINGERPRINT`, or `unauthenticated`.

    The fingerprint is 12 hex characters of the key's SHA-256, enough to tell
    an operator which configured key it was, useless to call the API with.
    `X-Activitylog-User` (sent by the portal, or the CLI's OS user) is kept as
    given after removing control characters, and cut to 200 characters.
    """
    if api_keys is None or presented is None:
        who = UNAUTHENTICATED
    else:
        who = key_fingerprint(presented, prefix="key:")
    user = _UNSAFE.sub("", request.headers.get(USER_HEADER, "")).strip()[:MAX_USER_CHARS]
    return f"{user} via {who}" if user else who


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def _match_key(presented: str, keys: Mapping[str, str]) -> str | None:
    """Constant-time comparison against every configured key."""
    found: str | None = None
    for key, partner in keys.items():
        if hmac.compare_digest(presented.encode(), key.encode()):
            found = partner
    return found
