"""The simulation loop: one event per time slot, a due follow-up or a fresh action or order.

Timestamps come from a fixed number of slots (`timeline.slot_times`); each
slot carries exactly one event. A follow-up that has come due (an order's
completion, say) takes the slot first; otherwise a customer is picked and
starts an order or an action, with the order share held near the spec's by
feedback on what has been emitted and what is scheduled.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

from producers.simulate.actions import Actions
from producers.simulate.catalog import ACTION_CUM, ACTION_NAMES, LINES_MEAN
from producers.simulate.draws import Draws
from producers.simulate.model import (
    AddSeats,
    Agenda,
    CreateSubscription,
    Customer,
    Event,
    FinishOrder,
    FollowUp,
    Resolve,
)
from producers.simulate.orders import Orders
from producers.simulate.spec import SimulationSpec
from producers.simulate.timeline import slot_times, to_us
from producers.simulate.world import make_partner, plan_customers
from schemas.topics import topic_for_event


class Simulation:
    """The world being simulated, and the loop that turns it into events."""

    def __init__(self, spec: SimulationSpec) -> None:
        self.spec = spec
        self.draw = Draws(spec.seed, spec.failure_rate)
        self.start_us = to_us(spec.start)
        self.end_us = to_us(spec.end)
        self.agenda = Agenda()
        self.customers: list[Customer] = []  # created ones, oldest first
        self.emitted = 0
        self.partners = [
            make_partner(self.draw, i, spec.users_per_partner) for i in range(spec.partners)
        ]
        plan_customers(
            self.draw,
            spec,
            self.partners,
            self.agenda,
            self.customers,
            self.start_us,
            self.end_us,
        )
        self.orders_only = spec.order_share >= 1.0
        self.actions = Actions(self.draw, self.agenda, self.customers)
        self.orders = Orders(self.draw, self.agenda, self.orders_only)
        self._order_base = self._base_order_probability()

    def _base_order_probability(self) -> float:
        """Chance that a fresh event starts an order, before the feedback correction.

        An order start yields about 1.95 order events (placed, then its end)
        and some `subscription.create` actions; an action start yields about
        1.05 actions (some resolve later). Solving share = orders / all for
        the start probability gives this; the loop then corrects the drift.
        """
        share = self.spec.order_share
        if share <= 0.0:
            return 0.0
        if self.orders_only:
            return 1.0
        completed = (1.0 - self.spec.failure_rate) * 0.96
        order_events = 1.95
        order_actions = completed * LINES_MEAN  # each line becomes a subscription.create
        action_events = 1.05
        denominator = order_events - share * (order_events + order_actions - action_events)
        if denominator <= 0:
            return 1.0
        return min(1.0, share * action_events / denominator)

    def run(self) -> Iterator[tuple[str, Event]]:
        agenda = self.agenda
        heap = agenda.heap
        topic_of = topic_for_event
        for at in slot_times(self.draw.rng, self.spec.total_events, self.start_us, self.end_us):
            if heap and (heap[0][0] <= at or not self.customers):
                # Due follow-ups first; with no customer yet, pull the next creation forward.
                event = self._follow_up(agenda.pop(), at)
            else:
                event = self._fresh(at)
            self.emitted += 1
            yield topic_of(event), event

    def _fresh(self, at: int) -> Event:
        rng = self.draw.rng
        customers = self.customers
        # Older customers are busier: skew the pick toward the front of the list.
        customer = customers[int(len(customers) * rng.random() ** 1.6)]
        if self._order_base > 0.0:
            projected_total = self.emitted + len(self.agenda.heap) + 1
            projected_orders = self.orders.emitted + self.agenda.orders_pending
            share = projected_orders / projected_total
            p = self._order_base + 2.0 * (self.spec.order_share - share)
            if rng.random() < p:
                return self.orders.place(customer, at)
        for _ in range(3):
            action = ACTION_NAMES[bisect_right(ACTION_CUM, rng.random() * ACTION_CUM[-1])]
            event = self.actions.fresh(action, customer, at)
            if event is not None:
                return event
        # Nothing eligible (a fresh customer has no subscription yet): an edit always is.
        event = self.actions.fresh("customer.update", customer, at)
        assert event is not None
        return event

    def _follow_up(self, follow_up: FollowUp, at: int) -> Event:
        if isinstance(follow_up, FinishOrder):
            return self.orders.finish(follow_up, at)
        if isinstance(follow_up, CreateSubscription):
            return self.actions.create_subscription(follow_up, at)
        if isinstance(follow_up, AddSeats):
            return self.actions.add_seats(follow_up, at)
        if isinstance(follow_up, Resolve):
            return self.actions.resolve(follow_up, at)
        return self.actions.create_customer(follow_up.customer, at)
