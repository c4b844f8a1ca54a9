"""Orders: placed by a partner user, then completed, failed or cancelled later.

A completed order's lines become follow-ups: a new subscription each, or
more seats on one the customer has (`CreateSubscription`, `AddSeats`).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from producers.simulate.catalog import (
    ADD_ON_SHARE,
    CATALOG,
    LINES_CUM,
    PRICE_INDEX,
    TERM_CUM,
    TERMS,
)
from producers.simulate.draws import Draws
from producers.simulate.model import (
    AddSeats,
    Agenda,
    CreateSubscription,
    Customer,
    Event,
    FinishOrder,
    Line,
    Order,
    PartnerUser,
    Subscription,
)


class Orders:
    """Emits order events and schedules what follows them; counts the orders emitted."""

    __slots__ = ("agenda", "draw", "emitted", "orders_only")

    def __init__(self, draw: Draws, agenda: Agenda, orders_only: bool) -> None:
        self.draw = draw
        self.agenda = agenda
        self.orders_only = orders_only  # no partner actions: no subscription.create either
        self.emitted = 0

    def place(self, customer: Customer, at: int) -> Event:
        """A new order of `customer`'s, `placed`; how and when it ends is scheduled now."""
        rng = self.draw.rng
        actor = self.draw.actor(customer.partner)
        count = 1 + bisect_right(LINES_CUM, rng.random() * LINES_CUM[-1])
        currency = customer.currency
        lines: list[Line] = []
        targets: list[Subscription] = []
        active = customer.active
        for _ in range(count):
            quantity = min(500, max(1, int(rng.lognormvariate(1.6, 1.0))))
            if active and rng.random() < ADD_ON_SHARE:
                sub = active[int(rng.random() * len(active))]
                if sub not in targets:  # one line per subscription in an order
                    targets.append(sub)
                    quantity = max(1, quantity // 3)  # add-ons are smaller
                    index = PRICE_INDEX[sub.term, sub.billing_cycle]
                    price = sub.product.prices[currency][index]
                    product, term, cycle = sub.product, sub.term, sub.billing_cycle
                    lines.append(Line(product, quantity, term, cycle, price, sub))
                    continue
            product = CATALOG[int(rng.random() * len(CATALOG))]
            term, cycle, price_index = TERMS[bisect_right(TERM_CUM, rng.random() * TERM_CUM[-1])]
            price = product.prices[currency][price_index]
            lines.append(Line(product, quantity, term, cycle, price, None))
        order = Order(f"ord-{rng.getrandbits(48):012X}", customer, actor, self.draw.uuid(), lines)
        # How it ends, and when: usually minutes later, sometimes hours.
        r = rng.random()
        if r < self.draw.failure_rate:
            status, due = "failed", at + self.draw.delay(120, 1.2, 2 * 86400)
        elif r < self.draw.failure_rate + 0.04 * (1.0 - self.draw.failure_rate):
            status, due = "cancelled", at + self.draw.delay(1800, 1.5, 3 * 86400)
        else:
            status, due = "completed", at + self.draw.delay(180, 1.2, 2 * 86400)
        self.agenda.push(due, FinishOrder(order, status))
        return self._order_event(at, order, "placed", actor, True)

    def _order_event(
        self,
        at: int,
        order: Order,
        status: str,
        actor: PartnerUser,
        interactive: bool,
        subscription_ids: list[str] | None = None,
    ) -> Event:
        rng = self.draw.rng
        customer = order.customer
        items: list[dict[str, Any]] = []
        for index, line in enumerate(order.lines):
            item: dict[str, Any] = {
                "product_name": line.product.name,
                "quantity": line.quantity,
                "offer_id": line.product.offer_id,
                "sku": line.product.sku,
                "unit_price": line.unit_price,
            }
            if subscription_ids is not None:
                item["subscription_id"] = subscription_ids[index]
            elif line.add_to is not None:
                item["subscription_id"] = line.add_to.id  # known from the start for add-ons
            item["term"] = line.term
            item["billing_cycle"] = line.billing_cycle
            items.append(item)
        event = self.draw.envelope(at, customer, actor, interactive)
        event["order_id"] = order.id
        event["order_status"] = status
        if rng.random() < 0.95:
            event["currency"] = customer.currency
        event["line_items"] = items
        event["correlation_id"] = order.correlation_id
        if rng.random() < 0.95:
            event["source"] = (
                "billing" if status == "completed" and rng.random() < 0.2 else ("ordering-service")
            )
        if interactive:
            self.draw.add_origin(event, actor)
        self.emitted += 1
        return event

    def finish(self, follow_up: FinishOrder, at: int) -> Event:
        """The order's end; a completed one schedules its subscriptions or added seats."""
        order, status = follow_up
        customer = order.customer
        if status == "completed" and any(
            line.add_to is not None and (line.add_to.status != "active" or line.add_to.index < 0)
            for line in order.lines
        ):
            # A subscription it adds seats to was suspended, cancelled or is
            # busy with another operation meanwhile: provisioning fails.
            status = "failed"
        if status != "completed":
            return self._order_event(at, order, status, order.actor, status == "cancelled")
        # Each line becomes a new subscription or more seats, a few seconds apart.
        ids: list[str] = []
        due = at
        for line in order.lines:
            due += self.draw.delay(5, 0.8, 120)
            if line.add_to is not None:
                ids.append(line.add_to.id)
                # Busy until the seats are added, so nothing else acts on it first.
                customer.unfile(line.add_to)
                self.agenda.push(due, AddSeats(order, line, line.add_to))
            else:
                ids.append(self.draw.uuid())
                if not self.orders_only:
                    self.agenda.push(due, CreateSubscription(order, line, ids[-1]))
        return self._order_event(at, order, status, order.actor, False, ids)
