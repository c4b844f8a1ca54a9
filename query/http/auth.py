"""Who is asking: the API key of a request, checked in constant time, as a typed `Caller`.

Keys come as `Authorization: Bearer KEY` or `X-API-Key`. Each configured key
is scoped to one partner, or to every partner (`*`); without configured keys
(a loopback-only server) every caller sees every partner. The server holds
the keys only as HMACs (`common.api_keys.KeyRing`) and names the caller by
the key's label: its name, or `#` and an HMAC prefix for an unnamed key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request

from common.errors import Unauthorized
from common.settings import ALL_PARTNERS
from query.headers import USER_HEADER
from query.http.services import ServicesDep

UNAUTHENTICATED: Final = "unauthenticated"
KEY_PREFIX: Final = "key:"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
MAX_USER_CHARS = 200


@dataclass(frozen=True)
class Caller:
    """The caller's partner scope (None: every partner) and who they are in a manifest."""

    partner_id: str | None
    created_by: str
    key_label: str | None = None  # the key's name (or `#` label); None without keys


def authenticate(request: Request, services: ServicesDep) -> Caller:
    """The dependency every data route takes: 401 without a key this server knows."""
    keys = services.keys
    if keys is None:
        return Caller(None, caller_identity(request, None))
    key = _presented_key(request)
    if key is None:
        raise Unauthorized("send an API key as `Authorization: Bearer KEY` or `X-API-Key`")
    who = keys.match(key)
    if who is None:
        raise Unauthorized("unknown API key")
    scope = None if who.partner == ALL_PARTNERS else who.partner
    return Caller(scope, caller_identity(request, who.label), who.label)


CallerDep = Annotated[Caller, Depends(authenticate)]


def caller_identity(request: Request, key_label: str | None) -> str:
    """`created_by` for an HTTP export: `[USER via ]key:LABEL`, or `unauthenticated`.

    The label is the key's name, or for an unnamed key `#` and 12 hex
    characters of its HMAC under the server secret: it tells an operator which
    configured key it was, and is useless to call the API with or to guess
    the key from. `X-Activitylog-User` (sent by the portal, or the CLI's OS
    user) is kept as given after removing control characters, and cut to 200
    characters.
    """
    who = UNAUTHENTICATED if key_label is None else KEY_PREFIX + key_label
    user = _UNSAFE.sub("", request.headers.get(USER_HEADER, "")).strip()[:MAX_USER_CHARS]
    return f"{user} via {who}" if user else who


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None
