"""The simulated world's entities, and the follow-ups the simulation schedules for later.

Entities are plain mutable objects with `__slots__` (a long run creates
millions of events from a few thousand of them); their bookkeeping keeps
the lists the simulation picks from consistent in O(1).
"""

from __future__ import annotations

import heapq
from typing import Any, NamedTuple

from producers.simulate.catalog import Locale, Product

Event = dict[str, Any]


class PartnerUser:
    """Someone (or some app) acting for a partner; keeps its own offset, address, agent."""

    __slots__ = ("agent", "ip", "is_app", "name", "offset")

    def __init__(
        self, name: str, is_app: bool, offset: tuple[int, str], ip: str, agent: str
    ) -> None:
        self.name = name
        self.is_app = is_app
        self.offset = offset
        self.ip = ip
        self.agent = agent


class Partner:
    __slots__ = ("app", "id", "people")

    def __init__(self, pid: str, people: list[PartnerUser], app: PartnerUser) -> None:
        self.id = pid
        self.people = people
        self.app = app


class User:
    """A user in a customer's tenant."""

    __slots__ = ("deleted", "display", "id", "index", "roles", "upn")

    def __init__(self, uid: str, upn: str, display: str, roles: list[str]) -> None:
        self.id = uid
        self.upn = upn
        self.display = display
        self.roles = roles
        self.deleted = False
        self.index = -1


class Subscription:
    """A customer's subscription; `status` is active, suspended or cancelled."""

    __slots__ = ("billing_cycle", "id", "index", "product", "quantity", "status", "term")

    def __init__(
        self, sid: str, product: Product, quantity: int, term: str, billing_cycle: str
    ) -> None:
        self.id = sid
        self.product = product
        self.quantity = quantity
        self.term = term
        self.billing_cycle = billing_cycle
        self.status = "active"
        self.index = -1  # position in the customer's active/suspended list, for O(1) removal


class Customer:
    __slots__ = (
        "active",
        "base_name",
        "city",
        "currency",
        "domain",
        "id",
        "licenses",
        "locale",
        "name",
        "partner",
        "phone",
        "suspended",
        "users",
    )

    def __init__(
        self, cid: str, partner: Partner, name: str, locale: Locale, domain: str, city: str
    ) -> None:
        self.id = cid
        self.partner = partner
        self.name = name
        self.base_name = name  # renames replace the suffix rather than pile them up
        self.locale = locale
        self.currency = locale.currency
        self.domain = domain
        self.city = city
        self.phone = ""
        self.users: list[User] = []
        # Subscriptions by status; cancelled ones and those with an operation
        # in progress are in neither list, so they cannot be picked.
        self.active: list[Subscription] = []
        self.suspended: list[Subscription] = []
        self.licenses: list[tuple[User, Subscription]] = []

    def add_user(self, user: User) -> None:
        user.index = len(self.users)
        self.users.append(user)

    def remove_user(self, user: User) -> None:
        users = self.users
        moved = users.pop()
        if moved is not user:
            users[user.index] = moved
            moved.index = user.index
        user.deleted = True

    def file(self, sub: Subscription) -> None:
        """Put `sub` in the list matching its status (cancelled: in none)."""
        if sub.status == "cancelled":
            return
        target = self.active if sub.status == "active" else self.suspended
        sub.index = len(target)
        target.append(sub)

    def unfile(self, sub: Subscription) -> None:
        """Take `sub` out of its list: busy with an operation, or about to change status."""
        source = self.active if sub.status == "active" else self.suspended
        moved = source.pop()
        if moved is not sub:
            source[sub.index] = moved
            moved.index = sub.index
        sub.index = -1


class Line(NamedTuple):
    product: Product
    quantity: int
    term: str
    billing_cycle: str
    unit_price: str
    add_to: Subscription | None  # seats added to this subscription; None: a new one


class Order:
    __slots__ = ("actor", "correlation_id", "customer", "id", "lines")

    def __init__(
        self, oid: str, customer: Customer, actor: PartnerUser, corr: str, lines: list[Line]
    ) -> None:
        self.id = oid
        self.customer = customer
        self.actor = actor
        self.correlation_id = corr
        self.lines = lines


# Follow-ups: what becomes due later, scheduled on the `Agenda` by due time.


class CreateCustomer(NamedTuple):
    customer: Customer


class FinishOrder(NamedTuple):
    order: Order
    status: str


class CreateSubscription(NamedTuple):
    order: Order
    line: Line
    subscription_id: str


class AddSeats(NamedTuple):
    """A completed add-on order line raising an existing subscription's quantity."""

    order: Order
    line: Line
    subscription: Subscription


class Resolve(NamedTuple):
    """An action that was emitted `in_progress` and now succeeds or fails."""

    customer: Customer
    actor: PartnerUser
    action: str
    correlation_id: str
    subscription: Subscription | None
    user: User | None
    details: dict[str, Any]


FollowUp = CreateCustomer | FinishOrder | CreateSubscription | AddSeats | Resolve


class Agenda:
    """The follow-ups not yet due, on a heap by due time.

    `heap[0][0]` is the next due time; follow-ups due at the same instant come
    out in the order they were scheduled. `orders_pending` counts the orders
    placed and not finished yet, for the order-share feedback.
    """

    __slots__ = ("heap", "orders_pending", "seq")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, FollowUp]] = []
        self.seq = 0
        self.orders_pending = 0

    def push(self, due_us: int, follow_up: FollowUp) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due_us, self.seq, follow_up))
        if isinstance(follow_up, FinishOrder):
            self.orders_pending += 1

    def pop(self) -> FollowUp:
        """The follow-up due first."""
        follow_up = heapq.heappop(self.heap)[2]
        if isinstance(follow_up, FinishOrder):
            self.orders_pending -= 1
        return follow_up
