"""Partner actions: what partner users do to their customers' tenants, and how it ends.

Each action first checks it is possible now (a subscription to suspend, a
user to delete), draws its outcome, applies a success to the world at once
and schedules a `Resolve` for one left `in_progress`, so the events read in
order always describe a consistent world.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from producers.simulate.catalog import (
    ACTION_SOURCE,
    CANCEL_REASONS,
    RENAME_SUFFIXES,
    ROLES,
    SUSPEND_REASONS,
)
from producers.simulate.draws import Draws
from producers.simulate.model import (
    AddSeats,
    Agenda,
    CreateSubscription,
    Customer,
    Event,
    PartnerUser,
    Resolve,
    Subscription,
    User,
)
from producers.simulate.world import new_user, phone_number


class Actions:
    """Emits partner actions: fresh ones, and the follow-ups that end in an action."""

    __slots__ = ("agenda", "customers", "draw")

    def __init__(self, draw: Draws, agenda: Agenda, customers: list[Customer]) -> None:
        self.draw = draw
        self.agenda = agenda
        self.customers = customers  # created ones, oldest first: `create_customer` appends

    def _action_event(
        self,
        at: int,
        customer: Customer,
        actor: PartnerUser,
        action: str,
        resource: tuple[str, str, str],
        outcome: str,
        details: dict[str, Any] | None,
        correlation_id: str | None,
        interactive: bool = True,
    ) -> Event:
        """One partner action, fields in contract order; optional ones present as upstream would."""
        rng = self.draw.rng
        event = self.draw.envelope(at, customer, actor, interactive)
        event["action"] = action
        event["resource_type"] = resource[0]
        event["resource_id"] = resource[1]
        event["resource_name"] = resource[2]
        # `outcome` defaults to succeeded: some upstream systems leave it out.
        if outcome != "succeeded" or rng.random() < 0.85:
            event["outcome"] = outcome
        if details is not None:
            event["details"] = details
        if correlation_id is not None:
            event["correlation_id"] = correlation_id
        if rng.random() < 0.92:
            event["source"] = ACTION_SOURCE[action.partition(".")[0]]
        if interactive:
            self.draw.add_origin(event, actor)
        return event

    def fresh(self, action: str, customer: Customer, at: int) -> Event | None:
        """A fresh action of kind `action` on `customer`, or None when it is not possible now."""
        if action.startswith("subscription."):
            return self._subscription_action(action, customer, at)
        if action.startswith("license."):
            return self._license_action(action, customer, at)
        if action.startswith("user."):
            return self._user_action(action, customer, at)
        return self._customer_update(customer, at)

    def _customer_update(self, customer: Customer, at: int) -> Event:
        rng = self.draw.rng
        actor = self.draw.actor(customer.partner)
        outcome = self.draw.outcome(False)
        r = rng.random()
        if r < 0.06:
            # A rename: later events carry the new name (names are snapshots).
            renamed = f"{customer.base_name} {self.draw.pick(RENAME_SUFFIXES)}"
            if renamed == customer.name:
                renamed = customer.base_name
            old, new = {"name": customer.name}, {"name": renamed}
        elif r < 0.5:
            old, new = (
                {"phone": customer.phone},
                {"phone": phone_number(self.draw, customer.locale)},
            )
        else:
            city = self.draw.pick(customer.locale.cities)
            postal = f"{rng.randrange(10000, 99999)}"
            old, new = {"city": customer.city}, {"city": city, "postal_code": postal}
        details: dict[str, Any] = {"old": old, "new": new}
        if outcome == "failed":
            details.update(self.draw.failure("customer.update"))
        else:
            customer.name = new.get("name", customer.name)
            customer.phone = new.get("phone", customer.phone)
            customer.city = new.get("city", customer.city)
        return self._action_event(
            at,
            customer,
            actor,
            "customer.update",
            ("customer", customer.id, customer.name),
            outcome,
            details,
            self.draw.correlation(outcome),
        )

    def _user_action(self, action: str, customer: Customer, at: int) -> Event | None:
        rng = self.draw.rng
        users = customer.users
        actor = self.draw.actor(customer.partner)
        if action == "user.create":
            outcome = self.draw.outcome(True)
            roles = [] if rng.random() < 0.8 else [self.draw.pick(ROLES)]
            user = new_user(self.draw, customer, roles)
            details: dict[str, Any] = {
                "user": {"upn": user.upn, "display_name": user.display, "roles": roles}
            }
            correlation = self.draw.correlation(outcome)
            if outcome == "in_progress":
                self._schedule_resolve(
                    at, customer, actor, action, correlation, None, user, details
                )
            elif outcome == "failed":
                details.update(self.draw.failure(action))
            else:
                customer.add_user(user)
            return self._action_event(
                at,
                customer,
                actor,
                action,
                ("user", user.id, user.upn),
                outcome,
                details,
                correlation,
            )
        if not users:
            return None
        user = users[int(rng.random() * len(users))]
        outcome = self.draw.outcome(False)
        info: dict[str, Any] | None = None
        if action == "user.delete":
            if len(users) < 2:
                return None  # never the tenant's last user
            info = {"upn": user.upn}
            if outcome == "succeeded":
                customer.remove_user(user)
        elif action == "user.password_reset":
            info = {"force_change_at_next_sign_in": rng.random() < 0.9}
        else:  # user.role_change
            new_roles = sorted(
                {*user.roles, self.draw.pick(ROLES)} if rng.random() < 0.7 else set()
            )
            if new_roles == user.roles:
                new_roles = [] if user.roles else [self.draw.pick(ROLES)]
            info = {"old": {"roles": list(user.roles)}, "new": {"roles": new_roles}}
            if outcome == "succeeded":
                user.roles = new_roles
        if outcome == "failed":
            info = {**(info or {}), **self.draw.failure(action)}
        return self._action_event(
            at,
            customer,
            actor,
            action,
            ("user", user.id, user.upn),
            outcome,
            info,
            self.draw.correlation(outcome),
        )

    def _license_action(self, action: str, customer: Customer, at: int) -> Event | None:
        rng = self.draw.rng
        actor = self.draw.actor(customer.partner)
        if action == "license.assign":
            if not customer.active or not customer.users:
                return None
            sub = customer.active[int(rng.random() * len(customer.active))]
            user = customer.users[int(rng.random() * len(customer.users))]
            outcome = self.draw.outcome(True)
        else:  # license.remove: pick an assignment that still stands
            licenses = customer.licenses
            for _ in range(4):
                if not licenses:
                    return None
                i = int(rng.random() * len(licenses))
                user, sub = licenses[i]
                if not user.deleted and sub.status != "cancelled":
                    break
                licenses[i] = licenses[-1]  # stale (user gone, subscription over): drop
                licenses.pop()
            else:
                return None
            outcome = self.draw.outcome(False)
            if outcome == "succeeded":
                licenses[i] = licenses[-1]
                licenses.pop()
        details: dict[str, Any] = {
            "user": user.upn,
            "sku": sub.product.sku,
            "subscription_id": sub.id,
        }
        correlation = self.draw.correlation(outcome)
        if outcome == "in_progress":
            self._schedule_resolve(at, customer, actor, action, correlation, sub, user, details)
        elif outcome == "failed":
            details = {**details, **self.draw.failure(action)}
        elif action == "license.assign":
            customer.licenses.append((user, sub))
        return self._action_event(
            at,
            customer,
            actor,
            action,
            ("license", sub.product.sku, sub.product.name),
            outcome,
            details,
            correlation,
        )

    def _subscription_action(self, action: str, customer: Customer, at: int) -> Event | None:
        rng = self.draw.rng
        if action == "subscription.reactivate":
            pool = customer.suspended
        elif action == "subscription.cancel":
            pool = (
                customer.suspended
                if customer.suspended and rng.random() < 0.4
                else (customer.active)
            )
        else:
            pool = customer.active
        if not pool:
            return None
        sub = pool[int(rng.random() * len(pool))]
        actor = self.draw.actor(customer.partner)
        outcome = self.draw.outcome(True)
        details: dict[str, Any]
        if action == "subscription.quantity_change":
            step = max(2, sub.quantity // 2)
            new_quantity = sub.quantity + rng.choice((-1, 1, 1, 1)) * rng.randint(1, step)
            if new_quantity < 1 or new_quantity == sub.quantity:
                new_quantity = sub.quantity + rng.randint(1, step)
            details = {"old": {"quantity": sub.quantity}, "new": {"quantity": new_quantity}}
        elif action == "subscription.suspend":
            details = {"reason": self.draw.pick(SUSPEND_REASONS)}
        elif action == "subscription.reactivate":
            details = {"old": {"status": "suspended"}, "new": {"status": "active"}}
        else:
            details = {"reason": self.draw.pick(CANCEL_REASONS), "previous_status": sub.status}
        correlation = self.draw.correlation(outcome)
        if outcome == "in_progress":
            # Busy until it resolves: nothing else may act on it meanwhile.
            customer.unfile(sub)
            self._schedule_resolve(at, customer, actor, action, correlation, sub, None, details)
        elif outcome == "failed":
            details = {**details, **self.draw.failure(action)}
        else:
            customer.unfile(sub)
            self._apply_subscription(customer, sub, action, details)
        return self._action_event(
            at,
            customer,
            actor,
            action,
            ("subscription", sub.id, sub.product.name),
            outcome,
            details,
            correlation,
        )

    def _apply_subscription(
        self, customer: Customer, sub: Subscription, action: str, details: Mapping[str, Any]
    ) -> None:
        """Apply a succeeded subscription action to `sub` (already out of its list)."""
        if action == "subscription.quantity_change":
            sub.quantity = details["new"]["quantity"]
        elif action == "subscription.suspend":
            sub.status = "suspended"
        elif action == "subscription.reactivate":
            sub.status = "active"
        elif action == "subscription.cancel":
            sub.status = "cancelled"
        customer.file(sub)

    def _schedule_resolve(
        self,
        at: int,
        customer: Customer,
        actor: PartnerUser,
        action: str,
        correlation: str | None,
        sub: Subscription | None,
        user: User | None,
        details: dict[str, Any],
    ) -> None:
        assert correlation is not None
        due = at + self.draw.delay(45, 1.0, 6 * 3600)
        self.agenda.push(due, Resolve(customer, actor, action, correlation, sub, user, details))

    def create_customer(self, customer: Customer, at: int) -> Event:
        """`customer.create`: the customer exists from now on, with its first admin."""
        admin = new_user(self.draw, customer, ["Global Administrator"])
        customer.add_user(admin)
        self.customers.append(customer)
        locale = customer.locale
        details = {
            "country": locale.country,
            "culture": locale.culture,
            "currency": customer.currency,
            "domain": customer.domain,
            "address": {"city": customer.city, "country": locale.country},
            "admin_user": admin.upn,
        }
        actor = self.draw.actor(customer.partner)
        return self._action_event(
            at,
            customer,
            actor,
            "customer.create",
            ("customer", customer.id, customer.name),
            "succeeded",
            details,
            self.draw.uuid(),
        )

    def add_seats(self, follow_up: AddSeats, at: int) -> Event:
        """The `subscription.quantity_change` a completed add-on order line makes."""
        order, line, sub = follow_up
        customer = order.customer
        old = sub.quantity
        sub.quantity = old + line.quantity
        customer.file(sub)
        details = {
            "old": {"quantity": old},
            "new": {"quantity": sub.quantity},
            "order_id": order.id,
        }
        return self._action_event(
            at,
            customer,
            order.actor,
            "subscription.quantity_change",
            ("subscription", sub.id, sub.product.name),
            "succeeded",
            details,
            order.correlation_id,
            interactive=False,
        )

    def create_subscription(self, follow_up: CreateSubscription, at: int) -> Event:
        """The `subscription.create` a completed order line makes."""
        order, line, sid = follow_up
        customer = order.customer
        sub = Subscription(sid, line.product, line.quantity, line.term, line.billing_cycle)
        customer.file(sub)
        details = {
            "order_id": order.id,
            "offer_id": line.product.offer_id,
            "quantity": line.quantity,
            "term": line.term,
            "billing_cycle": line.billing_cycle,
        }
        return self._action_event(
            at,
            customer,
            order.actor,
            "subscription.create",
            ("subscription", sid, line.product.name),
            "succeeded",
            details,
            order.correlation_id,
            interactive=False,
        )

    def resolve(self, follow_up: Resolve, at: int) -> Event:
        """How an `in_progress` action ended, applied to the world as it is now."""
        customer, actor, action, correlation, sub, user, details = follow_up
        outcome = "failed" if self.draw.rng.random() < self.draw.failure_rate else "succeeded"
        # The world may have moved on while this was pending.
        if user is not None and user.deleted:
            outcome = "failed"
        if action == "license.assign" and sub is not None and sub.status == "cancelled":
            outcome = "failed"
        # A deep copy: the pending event holds `details` and a consumer may mutate either.
        final: dict[str, Any] = orjson.loads(orjson.dumps(details))
        if outcome == "failed":
            final.update(self.draw.failure(action))
        if action.startswith("subscription."):
            assert sub is not None
            if outcome == "succeeded":
                self._apply_subscription(customer, sub, action, details)
            else:
                customer.file(sub)  # back to where it was
        elif outcome == "succeeded" and user is not None:
            if action == "user.create":
                customer.add_user(user)
            elif action == "license.assign" and sub is not None:
                customer.licenses.append((user, sub))
        if sub is not None and action.startswith("subscription."):
            resource = ("subscription", sub.id, sub.product.name)
        elif sub is not None:
            resource = ("license", sub.product.sku, sub.product.name)
        else:
            assert user is not None
            resource = ("user", user.id, user.upn)
        return self._action_event(
            at, customer, actor, action, resource, outcome, final, correlation, interactive=False
        )
