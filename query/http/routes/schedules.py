"""Scheduled exports: `POST/GET /api/v1/schedules`, `GET/DELETE /api/v1/schedules/{id}`.

A schedule belongs to the caller's partner (an every-partner key's to `*`)
and is seen only within that scope; another partner's id answers 404, like
an unknown one. The server's job runner fires the runs (query/jobs/runner.py);
a server without one answers 503. Bad rules answer 400 naming the field.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from common.errors import NotFound, TooManySchedules
from query.exports.formats import EXPORT_FORMATS
from query.http.auth import CallerDep
from query.http.openapi import error_responses
from query.http.routes.jobs import JsonBody, RunnerDep
from query.http.services import ServicesDep
from query.jobs.schedules import (
    ACTIVE,
    DELETED,
    Schedule,
    ScheduleTable,
    is_schedule_id,
    new_schedule,
    parse_rule,
    schedule_body,
)

router = APIRouter(tags=["schedules"])
# Active schedules per partner: each one is a job every period, and a partner's burst of
# schedules must not fill the one job queue every partner shares.
MAX_SCHEDULES = 50


@router.post("/api/v1/schedules", status_code=201, responses=error_responses(429))
def create_schedule(
    who: CallerDep, services: ServicesDep, body: JsonBody, jobs: RunnerDep
) -> JSONResponse:
    """Schedule an export: `every` month|week|day, `day`, `at` HH:MM, `tz`, format, filters."""
    now = services.now()
    rule = parse_rule(body, now)
    schedule = new_schedule(who.partner_id, who.created_by, rule, now)
    active = jobs.schedules.in_state(ACTIVE)
    if sum(1 for s in active if s.partner_id == schedule.partner_id) >= MAX_SCHEDULES:
        raise TooManySchedules(
            f"{MAX_SCHEDULES} schedules are already active for this key's partner; remove one first"
        )
    jobs.schedules.save(schedule)
    shown = schedule_body(schedule, now)
    return JSONResponse(shown, status_code=201, headers={"Location": shown["url"]})


@router.get("/api/v1/schedules")
def list_schedules(who: CallerDep, services: ServicesDep, jobs: RunnerDep) -> JSONResponse:
    """The caller's active schedules, oldest first, each with its next run; the formats."""
    now = services.now()
    items = [
        schedule_body(s, now)
        for s in jobs.schedules.in_state(ACTIVE)
        if s.visible_to(who.partner_id)
    ]
    # The formats a schedule may take, for a form to offer (the one list, query/exports/).
    return JSONResponse({"items": items, "formats": list(EXPORT_FORMATS)})


@router.get("/api/v1/schedules/{schedule_id}")
def get_schedule(
    schedule_id: str, who: CallerDep, services: ServicesDep, jobs: RunnerDep
) -> JSONResponse:
    """One schedule (a deleted one shows as `deleted`)."""
    schedule = _visible(jobs.schedules, schedule_id, who.partner_id)
    return JSONResponse(schedule_body(schedule, services.now()))


@router.delete("/api/v1/schedules/{schedule_id}")
def delete_schedule(
    schedule_id: str, who: CallerDep, services: ServicesDep, jobs: RunnerDep
) -> JSONResponse:
    """Stop a schedule; the exports it already made stay in the history."""
    schedule = _visible(jobs.schedules, schedule_id, who.partner_id)
    if schedule.state != DELETED:
        schedule = jobs.schedules.delete(schedule, services.now())
    return JSONResponse(schedule_body(schedule, services.now()))


def _visible(table: ScheduleTable, schedule_id: str, partner_id: str | None) -> Schedule:
    found = table.get(schedule_id) if is_schedule_id(schedule_id) else None
    if found is None or not found.visible_to(partner_id):
        raise NotFound(f"no schedule {schedule_id!r}")
    return found
