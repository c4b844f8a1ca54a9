"""The activity filter of a request: `from`, `to`, `tz` and the optional filters.

The optional filters are query parameters named by `FILTER_FIELDS`
(query/filters.py), declared from that list so the API, its OpenAPI
document and every other reader of the list cannot drift apart.
"""

from __future__ import annotations

import inspect
from typing import Annotated

from fastapi import Depends, Query

from query.filters import FILTER_FIELDS, ActivityFilter
from query.http.auth import CallerDep
from query.http.services import ServicesDep
from query.ranges import resolve_range


class _OptionalFilters:
    """A dependency taking one optional string query parameter per `FILTER_FIELDS` name."""

    # FastAPI reads a dependency's parameters from its signature.
    __signature__ = inspect.Signature(
        [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | None
            )
            for name in FILTER_FIELDS
        ]
    )

    def __call__(self, **filters: str | None) -> dict[str, str | None]:
        return filters


OptionalFilters = Annotated[dict[str, str | None], Depends(_OptionalFilters())]


def activity_filter(
    who: CallerDep,
    services: ServicesDep,
    filters: OptionalFilters,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    tz: str | None = None,
) -> ActivityFilter:
    """The read a request asks for, scoped to the caller's partner."""
    time_range = resolve_range(from_, to, tz, services.now())
    return ActivityFilter.from_params(time_range, who.partner_id, filters)


FilterDep = Annotated[ActivityFilter, Depends(activity_filter)]
