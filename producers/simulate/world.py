"""The world a run starts from: partners with their people, and the customers to come.

Customers are chosen (and named) up front; their creation is scheduled over
the window, most of them early, so the world grows as the events tell it.
"""

from __future__ import annotations

from producers.simulate.catalog import (
    APP_AGENTS,
    BROWSER_AGENTS,
    COUNTRY_CODES,
    CUSTOMER_NAMES,
    LOCALES,
    NAME_EDGE_CASES,
    OFFSETS,
    PARTNER_COMPANIES,
    PARTNER_FIRST,
    PARTNER_LAST,
    Locale,
    ascii_fold,
    name_category,
    person,
)
from producers.simulate.draws import Draws
from producers.simulate.model import Agenda, CreateCustomer, Customer, Partner, PartnerUser, User
from producers.simulate.spec import SimulationSpec


def make_partner(draw: Draws, index: int, users: int) -> Partner:
    """Partner number `index`, with `users` people and one integration acting for it."""
    rng = draw.rng
    company = PARTNER_COMPANIES[index % len(PARTNER_COMPANIES)]
    slug = ascii_fold(company.split()[0]) + ("" if index < len(PARTNER_COMPANIES) else str(index))
    domain = f"{slug}-partners.example"
    pid = f"ptn-{rng.getrandbits(40):010x}"
    people: list[PartnerUser] = []
    taken: set[str] = set()  # membership only; never iterated (hash order)
    while len(people) < users:
        local = f"{draw.pick(PARTNER_FIRST)}.{draw.pick(PARTNER_LAST)}"
        if local in taken:
            local = f"{local}{len(people) + 1}"
        taken.add(local)
        # Most people write UTC timestamps; some systems send their local offset.
        offset = OFFSETS[int(rng.random() * len(OFFSETS))]
        ip = (
            f"2001:db8:{index:x}:{len(people):x}::{rng.getrandbits(16):x}"
            if rng.random() < 0.2
            else f"{draw.pick(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"
        )
        people.append(
            PartnerUser(
                f"{local}@{domain}",
                False,
                offset,
                ip,
                BROWSER_AGENTS[int(rng.random() * len(BROWSER_AGENTS))],
            )
        )
    # An integration (app id) that acts through the API, as partners' automation does.
    app = PartnerUser(
        draw.uuid(),
        True,
        (0, "Z"),
        f"203.0.113.{rng.randrange(1, 255)}",
        draw.pick(APP_AGENTS),
    )
    return Partner(pid, people, app)


def plan_customers(
    draw: Draws,
    spec: SimulationSpec,
    partners: list[Partner],
    agenda: Agenda,
    customers: list[Customer],
    start_us: int,
    end_us: int,
) -> None:
    """Choose each partner's customers and schedule their creation (mostly early on).

    With orders only (no partner actions at all) they exist from the start:
    they go straight into `customers` instead.
    """
    rng = draw.rng
    orders_only = spec.order_share >= 1.0
    span = end_us - start_us
    by_category: dict[str, list[tuple[str, str]]] = {}
    for entry in CUSTOMER_NAMES:
        by_category.setdefault(name_category(entry[1]), []).append(entry)
    for partner in partners:
        chosen = _customer_names(draw, by_category, spec.customers_per_partner)
        for position, (locale_key, name) in enumerate(chosen):
            locale = LOCALES[locale_key]
            slug = ascii_fold(name)[:24]
            if len(slug) < 4:  # CJK, Arabic, Cyrillic names: no usable ASCII
                slug = f"tenant{rng.getrandbits(24):06x}"
            customer = Customer(
                draw.uuid(),
                partner,
                name,
                locale,
                f"{slug}.example",
                draw.pick(locale.cities),
            )
            customer.phone = phone_number(draw, locale)
            if orders_only:
                customer.add_user(new_user(draw, customer, ["Global Administrator"]))
                customers.append(customer)
                continue
            # Each partner's first customer exists from the start; the rest
            # arrive over the window, more of them early (cube of a uniform).
            due = start_us if position == 0 else start_us + int(span * rng.random() ** 3)
            agenda.push(due, CreateCustomer(customer))


def _customer_names(
    draw: Draws, by_category: dict[str, list[tuple[str, str]]], wanted: int
) -> list[tuple[str, str]]:
    """`wanted` (locale, company name) pairs for one partner, in the order they are created."""
    rng = draw.rng
    chosen: list[tuple[str, str]] = []
    used: set[str] = set()
    # One of each edge case first, so every partner's page meets them.
    for category in NAME_EDGE_CASES:
        pool = by_category[category]
        entry = pool[int(rng.random() * len(pool))]
        chosen.append(entry)
        used.add(entry[1])
    rest = [entry for entry in CUSTOMER_NAMES if entry[1] not in used]
    rng.shuffle(rest)
    chosen.extend(rest)
    chosen = chosen[:wanted]
    # More customers than names: branches of the same companies.
    round_ = 0
    while len(chosen) < wanted:
        round_ += 1
        for key, name in CUSTOMER_NAMES:
            if len(chosen) >= wanted:
                break
            cities = LOCALES[key].cities
            city = cities[round_ % len(cities)]
            suffix = f" ({city})" if round_ <= len(cities) else f" ({city} {round_})"
            chosen.append((key, name + suffix))
    rng.shuffle(chosen)
    return chosen


def phone_number(draw: Draws, locale: Locale) -> str:
    rng = draw.rng
    return f"{COUNTRY_CODES[locale.country]} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"


def new_user(draw: Draws, customer: Customer, roles: list[str]) -> User:
    """A new user in `customer`'s tenant (not added to it: the caller decides when)."""
    locale = customer.locale
    first, first_ascii = person(draw.pick(locale.first_names))
    last, last_ascii = person(draw.pick(locale.last_names))
    display = (
        f"{last}{'' if locale.country in ('CN', 'KR') else ' '}{first}"
        if (locale.family_first)
        else f"{first} {last}"
    )
    upn = f"{first_ascii}.{last_ascii}{draw.rng.randrange(1, 99)}@{customer.domain}"
    return User(draw.uuid(), upn, display, roles)
