"""The run's one random stream, and the small draws every part of the simulation makes.

Every draw of a run comes from one `random.Random` seeded by the spec, in a
fixed order: the same spec gives the same events, byte for byte. Anything
that adds, drops or reorders a draw changes every event after it.
"""

from __future__ import annotations

import math
import random
from typing import Final

from producers.simulate.catalog import FAILURES, GENERIC_FAILURES
from producers.simulate.model import Customer, Event, Partner, PartnerUser
from producers.simulate.timeline import SECOND_US, Clock

# The bits `uuid.UUID(int=..., version=4)` forces: version 4 and the RFC 4122 variant.
_UUID_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET: Final = (0x4000 << 64) | (0x8000 << 48)


def _uuid4(bits: int) -> str:
    """`str(uuid.UUID(int=bits, version=4))`, without building the object.

    Same string, bit for bit; ids are two of every event's fields, and the
    UUID object is a third of the cost.
    """
    h = f"{(bits & _UUID_CLEAR) | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Draws:
    """The random stream (`rng`), the clock that formats its instants, and the common draws."""

    __slots__ = ("clock", "failure_rate", "rng")

    def __init__(self, seed: int, failure_rate: float) -> None:
        self.rng = random.Random(seed)
        self.clock = Clock()
        self.failure_rate = failure_rate

    def uuid(self) -> str:
        return _uuid4(self.rng.getrandbits(128))

    def pick(self, seq: tuple[str, ...] | list[str]) -> str:
        return seq[int(self.rng.random() * len(seq))]

    def delay(self, median_seconds: float, sigma: float, cap_seconds: float) -> int:
        """A log-normal delay in µs: most follow-ups are quick, a few take hours."""
        seconds = min(self.rng.lognormvariate(math.log(median_seconds), sigma), cap_seconds)
        return int(seconds * SECOND_US)

    def actor(self, partner: Partner) -> PartnerUser:
        if self.rng.random() < 0.15:
            return partner.app
        return partner.people[int(self.rng.random() * len(partner.people))]

    def timestamp(self, at: int, actor: PartnerUser | None) -> str:
        """RFC 3339 in UTC mostly; some upstream systems write their local offset."""
        r = self.rng.random()
        if actor is not None and not actor.is_app and r < 0.3:
            return self.clock.format(at, actor.offset[0], actor.offset[1])
        if r < 0.85:
            return self.clock.format(at, 0, "Z")
        return self.clock.format(at, 0, "+00:00")

    def outcome(self, can_be_pending: bool) -> str:
        r = self.rng.random()
        if r < self.failure_rate:
            return "failed"
        if can_be_pending and r > 0.95:
            return "in_progress"
        return "succeeded"

    def failure(self, action: str) -> dict[str, str]:
        rng = self.rng
        pool = FAILURES[action] if rng.random() < 0.7 else GENERIC_FAILURES
        code, reason = pool[int(rng.random() * len(pool))]
        return {"reason": reason, "error_code": code}

    def correlation(self, outcome: str) -> str | None:
        # Always one on a pending action: its resolution must share it.
        if outcome == "in_progress" or self.rng.random() < 0.85:
            return self.uuid()
        return None

    def envelope(self, at: int, customer: Customer, actor: PartnerUser, interactive: bool) -> Event:
        """The fields every event starts with, in contract order: id, time, who, for whom.

        Only an interactive event carries the actor's own offset: a system
        writing a follow-up stamps it in UTC.
        """
        return {
            "event_id": self.uuid(),
            "occurred_at": self.timestamp(at, actor if interactive else None),
            "partner_id": customer.partner.id,
            "partner_user": actor.name,
            "customer_id": customer.id,
            "customer_name": customer.name,
        }

    def add_origin(self, event: Event, actor: PartnerUser) -> None:
        """Where an interactive event came from, when the upstream system recorded it."""
        rng = self.rng
        if rng.random() < 0.75:
            event["actor_ip"] = actor.ip
        if rng.random() < 0.7:
            event["user_agent"] = actor.agent
