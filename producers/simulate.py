"""Deterministic synthetic traffic: partners, customers, users, products, orders and actions.

`simulate(spec)` yields `(topic, event)` pairs that satisfy the v1 contracts of
docs/contracts.md, Event contracts exactly, in non-decreasing `occurred_at` order. It is a pure
generator: no Kafka, no clock, no global random state. The same spec gives
byte-identical output (`write_jsonl`), so simulated data can feed tests,
benchmarks and demos and every run can be reproduced from its seed.

Why it is shaped like this:

* The traffic is realistic on purpose. Company names come in many scripts
  and carry commas, quotes, emoji and spreadsheet-formula prefixes
  (`=`, `+`, `-`, `@`), because those are what break CSV exports and web
  pages. Orders follow a lifecycle (`placed` then `completed`, `failed` or
  `cancelled`, same `order_id` and `correlation_id`); subscriptions follow a
  coherent state machine (`subscription.create` after a completed order,
  `reactivate` only after `suspend`, nothing after `cancel`); long operations
  start `in_progress` and resolve later under the same correlation id.
* Timestamps come from a fixed number of "slots": sorted instants drawn
  from a weekday/office-hours intensity over [start, end]. Each slot carries
  exactly one event, either a follow-up that has come due (an order's
  completion, say) or a fresh action. That gives an exact event count, a
  time order by construction, and constant memory for any length of run.
* State changes (a subscription becoming suspended, a user being deleted)
  apply when the event that records them is emitted, so the output read in
  order is always consistent, whatever was scheduled before.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import math
import os
import random
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import IO, Any, Final, NamedTuple, cast

import orjson

from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC

__all__ = [
    "ACTIONS",
    "ORDER_STATUSES",
    "SimulationSpec",
    "sample_month",
    "simulate",
    "topic_for_event",
    "write_jsonl",
]

Event = dict[str, Any]

ORDER_STATUSES: Final[tuple[str, ...]] = ("placed", "completed", "failed", "cancelled")
"""Every `order_status` the simulator emits (all of v1)."""

ACTIONS: Final[tuple[str, ...]] = (
    "customer.create",
    "customer.update",
    "user.create",
    "user.delete",
    "user.password_reset",
    "user.role_change",
    "license.assign",
    "license.remove",
    "subscription.create",
    "subscription.quantity_change",
    "subscription.suspend",
    "subscription.reactivate",
    "subscription.cancel",
)
"""Every partner `action` the simulator emits."""


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True, kw_only=True)
class SimulationSpec:
    """What to simulate: how many partners, customers and users, over which window.

    `start` and `end` are aware datetimes (any offset; UTC is customary) and
    bound every `occurred_at`, both inclusive. `events` is the exact number of
    events; when it is None it is derived from `events_per_day` and the length
    of the window. `order_share` is the approximate fraction of events that
    are orders: held within a few points up to about 0.45; above that the
    subscription actions each completed order brings (`subscription.create`,
    seats added) cap it near 0.5, and 1.0 means orders only, no actions.
    `failure_rate` is the chance that an action or an order fails.
    """

    seed: int
    partners: int = 3
    customers_per_partner: int = 40
    users_per_partner: int = 4
    start: datetime
    end: datetime
    events: int | None = None
    events_per_day: float = 1000.0
    order_share: float = 0.3
    failure_rate: float = 0.05

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"{name} must be an aware datetime (e.g. tzinfo=UTC)")
        if self.end < self.start:
            raise ValueError("end must not be before start")
        for name in ("partners", "customers_per_partner", "users_per_partner"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.events is not None and self.events < 0:
            raise ValueError("events must not be negative")
        if not (self.events_per_day >= 0 and math.isfinite(self.events_per_day)):
            raise ValueError("events_per_day must be a finite number >= 0")
        for name in ("order_share", "failure_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    @property
    def total_events(self) -> int:
        """The number of events `simulate` yields for this spec."""
        if self.events is not None:
            return self.events
        days = (self.end - self.start) / timedelta(days=1)
        return round(days * self.events_per_day)


def sample_month(seed: int = 7, end: datetime | None = None, events: int = 2000) -> SimulationSpec:
    """A spec covering the 30 days before `end`: the page's default range (docs/contracts.md, HTTP).

    `end` defaults to now, truncated to the minute; this is the only place the
    simulator reads the clock, so a demo shows "recent" activity while every
    other use stays reproducible.
    """
    if end is None:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
    return SimulationSpec(seed=seed, start=end - timedelta(days=30), end=end, events=events)


def topic_for_event(event: Mapping[str, Any]) -> str:
    """The topic an event belongs on, from its shape: orders carry `order_id` / `line_items`.

    `activitylog produce` reads JSONL with no topic column, so the shape is
    the routing rule; partner actions never carry those two top-level fields
    (an order id in an action goes inside `details`).
    """
    if "line_items" in event or "order_id" in event:
        return ORDERS_TOPIC
    return PARTNER_ACTIONS_TOPIC


def write_jsonl(
    pairs: Iterable[tuple[str, Mapping[str, Any]]],
    path_or_file: str | os.PathLike[str] | IO[bytes] | IO[str],
) -> int:
    """Write the events of `pairs`, one compact JSON object per line; return how many.

    UTF-8 (non-ASCII is written as is, not escaped), `\\n` line ends, no topic
    column: `topic_for_event` recovers it. A path is created or truncated; an
    open file is written to and left open (binary preferred; a text file gets
    decoded lines, for `sys.stdout`).
    """
    if isinstance(path_or_file, str | os.PathLike):
        with open(path_or_file, "wb") as f:
            return write_jsonl(pairs, f)
    text = isinstance(path_or_file, io.TextIOBase)
    out = path_or_file
    dumps = orjson.dumps
    count = 0
    chunk: list[bytes] = []
    for _topic, event in pairs:
        chunk.append(dumps(event if type(event) is dict else dict(event)))
        if len(chunk) >= 2048:
            count += _write_chunk(out, chunk, text)
            chunk = []
    if chunk:
        count += _write_chunk(out, chunk, text)
    return count


def _write_chunk(out: IO[bytes] | IO[str], chunk: list[bytes], text: bool) -> int:
    """Write many lines with one call: a write per event would dominate the cost."""
    data = b"\n".join(chunk) + b"\n"
    if text:
        cast(IO[str], out).write(data.decode("utf-8"))
    else:
        cast(IO[bytes], out).write(data)
    return len(chunk)


def simulate(spec: SimulationSpec) -> Iterator[tuple[str, Event]]:
    """Yield `spec.total_events` `(topic, event)` pairs in non-decreasing `occurred_at` order.

    Every event satisfies the v1 contract of its topic; `topic` always equals
    `topic_for_event(event)`. Deterministic: it depends on `spec` only.
    """
    return _Simulation(spec).run()


# ------------------------------------------------------------------ reference data
# Invented companies and people. `.example` domains and documentation IP
# ranges (RFC 5737, RFC 3849) so nothing points at a real organisation.


class _Locale(NamedTuple):
    country: str
    currency: str
    culture: str
    cities: tuple[str, ...]
    first_names: tuple[str, ...]  # "display" or "display|ascii"
    last_names: tuple[str, ...]
    family_first: bool  # display name order: 山田 太郎, 김민준


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


_LOCALES: Final[dict[str, _Locale]] = {
    "fr": _Locale(
        "FR",
        "EUR",
        "fr-FR",
        _split("Lyon, Marseille, Lille, Nantes, Bordeaux, Strasbourg, Besançon, Orléans"),
        _split("Élodie, Gaëtan, Hélène, Noël, Zoé, Benoît, Maëlle, François, Cécile, Jérôme"),
        _split("Lefèvre, Dubois, Roux, Brûlé, Garnier, Bérénger, Moreau, Faure, Lemaître"),
        False,
    ),
    "de": _Locale(
        "DE",
        "EUR",
        "de-DE",
        _split("München, Köln, Düsseldorf, Nürnberg, Lübeck, Göttingen, Würzburg, Saarbrücken"),
        _split("Jürgen, Jörg, Björn, Käthe, Günther, Sören, Uwe, Anneliese, Lökman, Maximilian"),
        _split("Müller, Schäfer, Köhler, Weiß, Großmann, Häußler, Fuß, Bößenecker, Östreicher"),
        False,
    ),
    "es": _Locale(
        "ES",
        "EUR",
        "es-ES",
        _split("Málaga, Córdoba, León, Cádiz, Logroño, A Coruña, Ávila, Jaén"),
        _split("Begoña, Íñigo, Nuria, José, Inés, Ramón, Maite, Álvaro, Ángela"),
        _split("Peñalver, Muñoz, Íñiguez, Ortúzar, Núñez, Castaño, Gómez, Sáenz"),
        False,
    ),
    "pl": _Locale(
        "PL",
        "PLN",
        "pl-PL",
        _split("Łódź, Kraków, Gdańsk, Wrocław, Poznań, Białystok, Rzeszów, Toruń"),
        _split("Łukasz, Zofia, Małgorzata, Wojciech, Agnieszka, Paweł, Bożena, Jędrzej"),
        _split("Łukasiewicz, Wróbel, Żółkiewski, Kowalska, Nowak, Wiśniewski, Gęsicki"),
        False,
    ),
    "ja": _Locale(
        "JP",
        "JPY",
        "ja-JP",
        _split("東京, 大阪, 名古屋, 札幌, 福岡, 横浜"),
        _split("太郎|taro, 花子|hanako, 健|ken, 陽菜|hina, 翔太|shota, 美咲|misaki"),
        _split("山田|yamada, 佐藤|sato, 鈴木|suzuki, 高橋|takahashi, 田中|tanaka, 伊藤|ito"),
        True,
    ),
    "zh": _Locale(
        "CN",
        "CNY",
        "zh-CN",
        _split("北京, 上海, 深圳, 杭州, 广州, 成都"),
        _split("伟|wei, 芳|fang, 娜|na, 强|qiang, 静|jing, 磊|lei"),
        _split("王|wang, 李|li, 张|zhang, 刘|liu, 陈|chen, 杨|yang"),
        True,
    ),
    "ko": _Locale(
        "KR",
        "KRW",
        "ko-KR",
        _split("서울, 부산, 인천, 대구, 광주, 대전"),
        _split("민준|minjun, 서연|seoyeon, 지훈|jihun, 하은|haeun, 도윤|doyun"),
        _split("김|kim, 이|lee, 박|park, 최|choi, 정|jung"),
        True,
    ),
    "en": _Locale(
        "GB",
        "GBP",
        "en-GB",
        _split("London, Manchester, Leeds, Bristol, Glasgow, Cardiff, Belfast, York"),
        _split("Oliver, Amelia, Siobhán, Liam, Chloë, Harry, Niamh, Seán, Grace, Jack"),
        _split("O'Brien, Smith, Jones, Taylor, Brown, McAllister, Davies, Nic Amhlaoibh"),
        False,
    ),
    "us": _Locale(
        "US",
        "USD",
        "en-US",
        _split("Seattle, Austin, Denver, Boston, Chicago, Atlanta, Portland, San José"),
        _split("Emma, Noah, Olivia, Mateo, Ava, Ethan, Renée, Andrés, Harper, Lucas"),
        _split("Johnson, Williams, García, Martínez, Miller, Anderson, Nguyễn, Thompson"),
        False,
    ),
    "xx": _Locale(  # the rest of the world, in its own scripts
        "SE",
        "SEK",
        "sv-SE",
        _split("Göteborg, Malmö, Västerås, Örebro, Linköping, Jönköping"),
        _split("Åsa, Björn, Märta, Øystein, Ingrid, Ömer, Δήμητρα|dimitra, Алексей|aleksey"),
        _split("Åkesson, Lindqvist, Sjöberg, Yıldız, Παπαδόπουλος|papadopoulos, Иванов|ivanov"),
        False,
    ),
}

# (locale, company name). Every edge case a reader of this data must survive.
_CUSTOMER_NAMES: Final[tuple[tuple[str, str], ...]] = (
    ("fr", "Boulangerie Élodie & Fils"),
    ("fr", "Cabinet Lefèvre Conseil"),
    ("fr", "Transports Bénédicte Roux"),
    ("fr", "Pâtisserie Côté Jardin"),
    ("fr", "Hôtel des Deux Rivières"),
    ("fr", "Menuiserie Gaëtan Brûlé SARL"),
    ("fr", "Crèche Les Petits Écureuils"),
    ("fr", "Société Rhône-Alpes Énergie Renouvelable"),
    ("fr", "Librairie L'Écume des Pages"),
    ("fr", 'Café "Le Zinc", Lyon'),
    ("de", "Müller & Söhne Maschinenbau GmbH"),
    ("de", "Bäckerei Größlinger"),
    ("de", "Schäfer Logistik AG"),
    ("de", "Brüder Köhler KG"),
    ("de", "Zahnarztpraxis Dr. Jürgen Weiß"),
    ("de", "Elektro Häußler e.K."),
    ("de", "Straßenbau Östreicher GmbH & Co. KG"),
    ("de", "Kanzlei Bößenecker, Fuß & Partner mbB"),
    ("es", "Construcciones Peñalver S.L."),
    ("es", "Muñoz y Asociados"),
    ("es", "Panadería Begoña"),
    ("es", "Clínica Dental Íñiguez"),
    ("es", "Ferretería El Búho, S.A."),
    ("es", "Viñedos Ortúzar"),
    ("pl", "Przedsiębiorstwo Łukasiewicz Sp. z o.o."),
    ("pl", "Zakład Stolarski Żółkiewski"),
    ("pl", "Piekarnia Świętokrzyska"),
    ("pl", "Biuro Rachunkowe Wróbel i Wspólnicy"),
    ("pl", "Gęś Logistyka S.A."),
    ("ja", "株式会社さくら精機"),
    ("ja", "山田商事株式会社"),
    ("ja", "有限会社みどり食品"),
    ("ja", "東海ロジスティクス株式会社"),
    ("ja", "ひかり歯科クリニック"),
    ("zh", "深圳星河科技有限公司"),
    ("zh", "北京长城软件有限公司"),
    ("zh", "上海明珠贸易"),
    ("zh", "杭州绿茶文化传媒"),
    ("zh", "廣州龍門餐飲集團"),
    ("ko", "주식회사 한빛소프트"),
    ("ko", "서울물류 주식회사"),
    ("ko", "부산해운"),
    ("ko", "푸른숲 치과의원"),
    ("en", 'Acme, "The Best" Ltd'),
    ("en", "Smith, Jones & Partners, LLP"),
    ("en", "Northwind Traders"),
    ("en", "O'Brien Plumbing & Heating"),
    ("en", 'The Phone Company "Unlimited"'),
    ("en", "Bob's Bait & Tackle, Ltd."),
    ("us", "Wide World Importers"),
    ("us", "Proseware, Inc."),
    ("us", "Blue Yonder Airlines"),
    ("us", "Tailspin Toys"),
    ("us", "Lucerne Publishing"),
    ("us", "Fourth Coffee"),
    # Spreadsheet-formula prefixes: an export that does not neutralize them
    # runs them in the analyst's Excel (OWASP CSV injection).
    ("us", '=HYPERLINK("http://attacker.example/refund","Click for refund")'),
    ("en", "+44 Telecom Services"),
    ("us", "-Minus Architects"),
    ("us", "@Home Care Services"),
    ("en", "=1+2 Consulting"),
    ("us", "+Plus Dental Care"),
    ("en", "@mention Media Ltd"),
    ("us", "-=Blue=- Gaming Club"),
    # Long names: table cells and CSV columns must wrap or truncate them.
    (
        "en",
        "The International Consolidated Amalgamated Association of Independent Regional "
        "Cooperative Agricultural Producers, Processors and Distributors of the Northern "
        "Hemisphere (Holdings) Limited",
    ),
    (
        "de",
        "Landesgesellschaft für Grundstücksverwaltung und Infrastrukturentwicklung "
        "Mecklenburg-Vorpommern mbH & Co. Beteiligungs-KG",
    ),
    ("xx", "Åkesson Fiskeri AB"),
    ("xx", "Yıldız Tekstil A.Ş."),
    ("xx", "Αθηνά Ναυτιλιακή Α.Ε."),
    ("xx", "ООО «Северный Ветер»"),
    ("xx", "شركة النخيل للتجارة"),
    ("xx", "Pâtisserie 🍰 Sucrée"),
    ("xx", "Công ty Ngô Văn Thành"),
    ("xx", "Fjällräven Småföretag & Söner"),
)

# Which names must appear among each partner's customers (when it has enough).
_NAME_EDGE_CASES: Final[tuple[str, ...]] = ("cjk", "accent", "comma_quote", "formula", "long")


def _is_cjk(name: str) -> bool:
    return any(
        "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7a3"
        for ch in name
    )


def _name_category(name: str) -> str:
    if _is_cjk(name):
        return "cjk"
    if name[:1] in "=+-@":
        return "formula"
    if len(name) >= 100:
        return "long"
    if "," in name and '"' in name:
        return "comma_quote"
    if any(ch in "éèêëàâäçôöüûùïîñóúíáßłżźśęąćńŁŻŚÉÅØå" for ch in name):
        return "accent"
    return "plain"


_PARTNER_COMPANIES: Final[tuple[str, ...]] = _split(
    "Contoso Cloud Solutions, Fabrikam IT Services, Adventure Works Consulting, Litware Systems, "
    "Woodgrove Digital, Trey Research Partners, Alpine Ski House IT, Coho Networks, "
    "Margie's Travel Tech, Datum Managed Services, Relecloud Integrators, VanArsdel Cloud, "
    "Humongous Insurance IT, Graphic Design Institute Tech, Southridge Video Systems"
)

_PARTNER_FIRST: Final = _split(
    "camille, lukas, sofia, hugo, emma, jonas, lea, mateo, ines, noah, clara, elias, nora, tom"
)
_PARTNER_LAST: Final = _split(
    "martin, schmidt, garcia, bernard, rossi, novak, jensen, dubois, kowalski, murphy, berg"
)

_ROLES: Final = (
    "Global Administrator",
    "Billing Administrator",
    "User Administrator",
    "Helpdesk Administrator",
    "License Administrator",
    "Security Reader",
)

_BROWSER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
)
_APP_AGENTS: Final = (
    "PartnerCenterSDK/3.4.0 (.NET 8.0.11; Windows)",
    "PartnerCenter.PowerShell/3.0.10",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
)

# UTC offsets that upstream systems write timestamps in (minutes, suffix).
_OFFSETS: Final[tuple[tuple[int, str], ...]] = (
    (60, "+01:00"),
    (120, "+02:00"),
    (-300, "-05:00"),
    (-480, "-08:00"),
    (330, "+05:30"),
    (540, "+09:00"),
    (-210, "-03:30"),
    (345, "+05:45"),
)


class _Product(NamedTuple):
    name: str
    sku: str
    offer_id: str
    prices: dict[str, tuple[str, str, str]]  # currency -> (P1M monthly, P1Y monthly, P1Y annual)


# (name, SKU part number, list price in US cents per seat per month on a yearly term)
_CATALOG_SOURCE: Final[tuple[tuple[str, str, int], ...]] = (
    ("Microsoft 365 Business Basic", "O365_BUSINESS_ESSENTIALS", 600),
    ("Microsoft 365 Business Standard", "O365_BUSINESS_PREMIUM", 1250),
    ("Microsoft 365 Business Premium", "SPB", 2200),
    ("Microsoft 365 E3", "SPE_E3", 3600),
    ("Microsoft 365 E5", "SPE_E5", 5700),
    ("Office 365 E1", "STANDARDPACK", 1000),
    ("Exchange Online (Plan 1)", "EXCHANGESTANDARD", 400),
    ("Exchange Online (Plan 2)", "EXCHANGEENTERPRISE", 800),
    ("Microsoft Teams Essentials", "TEAMS_ESSENTIALS", 400),
    ("Teams Phone Standard", "MCOEV", 800),
    ("Power BI Pro", "POWER_BI_PRO", 1000),
    ("Power BI Premium Per User", "PBI_PREMIUM_PER_USER", 2000),
    ("Visio Plan 2", "VISIOCLIENT", 1500),
    ("Project Plan 3", "PROJECTPROFESSIONAL", 3000),
    ("Dynamics 365 Sales Professional", "D365_SALES_PRO", 6500),
    ("Dynamics 365 Business Central Essentials", "DYN365_BUSCENTRAL_ESSENTIAL", 7000),
    ("Microsoft Defender for Endpoint P1", "DEFENDER_ENDPOINT_P1", 300),
    ("Microsoft Entra ID P1", "AAD_PREMIUM", 600),
    ("Microsoft Intune Plan 1", "INTUNE_A", 800),
    ("Windows 365 Business 2 vCPU, 8 GB, 128 GB", "CPC_B_2C_8RAM_128GB", 4100),
    ("Microsoft 365 Copilot", "MICROSOFT_365_COPILOT", 3000),
    ("Contoso Cloud Backup for Microsoft 365 – 50 GB", "CONTOSO_BACKUP_50GB", 250),
    ("Fabrikam Secure Mail Gateway", "FABRIKAM_SMG", 350),
    ('Adatum "Always On" VPN', "ADATUM_AOVPN", 450),
    ("Litware Übersetzung Pro (DE/FR/ES)", "LITWARE_UEBERSETZUNG_PRO", 1900),
    ("Northwind Endpoint Protection Premium", "NW_EPP_PREMIUM", 500),
)

# Units per US dollar, and decimal places (ISO 4217 minor units).
_FX: Final[dict[str, tuple[float, int]]] = {
    "USD": (1.0, 2),
    "EUR": (0.92, 2),
    "GBP": (0.79, 2),
    "PLN": (3.95, 2),
    "SEK": (10.6, 2),
    "JPY": (150.0, 0),
    "CNY": (7.2, 2),
    "KRW": (1350.0, 0),
}


def _price(us_cents: float, currency: str) -> str:
    """A decimal string in `currency`, with that currency's number of decimals."""
    rate, decimals = _FX[currency]
    if decimals == 0:
        return str(round(us_cents * rate / 100))
    minor = round(us_cents * rate)
    return f"{minor // 100}.{minor % 100:02d}"


def _offer_code(name: str) -> str:
    """A stable Partner-Center-like product id (12 characters) derived from the name.

    Derived, not drawn from the seed, so a product keeps its id across runs
    and seeds, as a real catalogue would.
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    alphabet = "0123456789BCDFGHJKLMNPQRSTVWXZ"
    return "CFQ7TTC0" + "".join(alphabet[b % len(alphabet)] for b in digest[:4])


def _build_catalog() -> tuple[_Product, ...]:
    products = []
    for index, (name, sku, cents) in enumerate(_CATALOG_SOURCE):
        prices = {
            # Monthly terms cost 20% more than yearly ones (as in real NCE pricing).
            cur: (_price(cents * 1.2, cur), _price(cents, cur), _price(cents * 12, cur))
            for cur in _FX
        }
        offer = f"{_offer_code(name)}:{1 + index % 3:04d}"
        products.append(_Product(name, sku, offer, prices))
    return tuple(products)


_CATALOG: Final = _build_catalog()

# Term / billing cycle combinations: (term, billing_cycle, index into prices); weights below.
_TERMS: Final[tuple[tuple[str, str, int], ...]] = (
    ("P1M", "monthly", 0),
    ("P1Y", "monthly", 1),
    ("P1Y", "annual", 2),
)
_TERM_CUM: Final = tuple(accumulate((25, 40, 35)))
_PRICE_INDEX: Final = {(term, cycle): index for term, cycle, index in _TERMS}

# Chance that an order line adds seats to a subscription the customer has,
# rather than buying a new one (when it has one to add to).
_ADD_ON_SHARE: Final = 0.5

# Line-item counts 1..10: most orders buy one product, a few buy many.
_LINES_WEIGHTS: Final = (58, 15, 8, 5, 4, 3, 2, 2, 1, 2)
_LINES_CUM: Final = tuple(accumulate(_LINES_WEIGHTS))
_LINES_MEAN: Final = sum(n * w for n, w in enumerate(_LINES_WEIGHTS, 1)) / sum(_LINES_WEIGHTS)

# Relative rates of fresh partner actions (follow-ups come on their own).
_ACTION_WEIGHTS: Final[tuple[tuple[str, int], ...]] = (
    ("customer.update", 6),
    ("user.create", 9),
    ("user.delete", 3),
    ("user.password_reset", 11),
    ("user.role_change", 5),
    ("license.assign", 14),
    ("license.remove", 6),
    ("subscription.quantity_change", 14),
    ("subscription.suspend", 5),
    ("subscription.reactivate", 5),
    ("subscription.cancel", 3),
)
_ACTION_NAMES: Final = tuple(name for name, _ in _ACTION_WEIGHTS)
_ACTION_CUM: Final = tuple(accumulate(weight for _, weight in _ACTION_WEIGHTS))

# Why an action failed: (error_code, reason), per action, plus generic ones.
_FAILURES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "customer.update": (
        ("AddressValidationFailed", "Postal code does not match the city"),
        ("InvalidPhoneNumber", "Phone number is not valid for the customer's country"),
    ),
    "user.create": (("UserAlreadyExists", "A user with this user principal name already exists"),),
    "user.delete": (("LastAdminDeletion", "Cannot delete the last Global Administrator"),),
    "user.password_reset": (
        ("PasswordPolicyViolation", "Password does not meet complexity requirements"),
    ),
    "user.role_change": (
        ("InsufficientPrivileges", "Delegated admin relationship does not allow this role"),
    ),
    "license.assign": (
        ("NoAvailableLicenses", "All seats of the subscription are already assigned"),
        ("SubscriptionNotActive", "The subscription is no longer active"),
    ),
    "license.remove": (("GroupBasedLicense", "License is managed by group-based licensing"),),
    "subscription.quantity_change": (
        ("QuantityDecreaseNotAllowed", "Seats can only be reduced within 7 days of purchase"),
        ("QuantityAboveMaximum", "Quantity exceeds the offer's maximum of 300 seats"),
    ),
    "subscription.suspend": (("SubscriptionLocked", "Subscription is locked by a pending order"),),
    "subscription.reactivate": (("PaymentDeclined", "The payment method was declined"),),
    "subscription.cancel": (
        ("CancellationWindowExpired", "Cancellation window (168 hours) has passed"),
    ),
}
_GENERIC_FAILURES: Final = (
    ("GatewayTimeout", "Upstream service did not answer within 30 s"),
    ("TooManyRequests", "Throttled: too many requests, retry after 60 s"),
)

_RENAME_SUFFIXES: Final = ("Group", "Holding", "International", "& Co.", "(Europe)")
_SUSPEND_REASONS: Final = ("non_payment", "customer_request", "fraud_review", "partner_request")
_CANCEL_REASONS: Final = ("customer_request", "downgrade", "moved_to_other_offer", "non_payment")

# Where a partner action is recorded upstream, by action family.
_ACTION_SOURCE: Final = {
    "customer": "partner-center",
    "user": "identity",
    "license": "identity",
    "subscription": "billing",
}

# Office-hours intensity by UTC hour (Europe first, then the Americas), and
# a quieter weekend: traffic is not uniform, and dashboards show it.
# fmt: off
_HOURLY: Final[tuple[float, ...]] = (
    0.25, 0.2, 0.2, 0.25, 0.35, 0.55, 0.8, 1.0, 1.1, 1.15, 1.1, 1.0,
    0.95, 1.05, 1.1, 1.05, 0.95, 0.8, 0.65, 0.55, 0.5, 0.45, 0.35, 0.3,
)
# fmt: on
_WEEKEND: Final = 0.3

_US: Final = 1_000_000  # microseconds per second
_HOUR_US: Final = 3600 * _US
_DAY_US: Final = 86400 * _US
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()

_ASCII_FOLD: Final = str.maketrans(
    {"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "ı": "i", "đ": "d", "œ": "oe"}
)


def _ascii(text: str) -> str:
    """Lower-case ASCII letters and digits of `text`: 'Bößenecker' -> 'boessenecker'."""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


def _person(entry: str) -> tuple[str, str]:
    """'太郎|taro' -> ('太郎', 'taro'); 'Élodie' -> ('Élodie', 'elodie')."""
    display, _, romanized = entry.partition("|")
    return display, romanized or _ascii(display)


# ------------------------------------------------------------------ simulation state


class _PartnerUser:
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


class _Partner:
    __slots__ = ("app", "id", "people")

    def __init__(self, pid: str, people: list[_PartnerUser], app: _PartnerUser) -> None:
        self.id = pid
        self.people = people
        self.app = app


class _User:
    """A user in a customer's tenant."""

    __slots__ = ("deleted", "display", "id", "index", "roles", "upn")

    def __init__(self, uid: str, upn: str, display: str, roles: list[str]) -> None:
        self.id = uid
        self.upn = upn
        self.display = display
        self.roles = roles
        self.deleted = False
        self.index = -1


class _Subscription:
    """A customer's subscription; `status` is active, suspended or cancelled."""

    __slots__ = ("billing_cycle", "id", "index", "product", "quantity", "status", "term")

    def __init__(
        self, sid: str, product: _Product, quantity: int, term: str, billing_cycle: str
    ) -> None:
        self.id = sid
        self.product = product
        self.quantity = quantity
        self.term = term
        self.billing_cycle = billing_cycle
        self.status = "active"
        self.index = -1  # position in the customer's active/suspended list, for O(1) removal


class _Customer:
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
        self, cid: str, partner: _Partner, name: str, locale: _Locale, domain: str, city: str
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
        self.users: list[_User] = []
        # Subscriptions by status; cancelled ones and those with an operation
        # in progress are in neither list, so they cannot be picked.
        self.active: list[_Subscription] = []
        self.suspended: list[_Subscription] = []
        self.licenses: list[tuple[_User, _Subscription]] = []


class _Line(NamedTuple):
    product: _Product
    quantity: int
    term: str
    billing_cycle: str
    unit_price: str
    add_to: _Subscription | None  # seats added to this subscription; None: a new one


class _Order:
    __slots__ = ("actor", "correlation_id", "customer", "id", "lines")

    def __init__(
        self, oid: str, customer: _Customer, actor: _PartnerUser, corr: str, lines: list[_Line]
    ) -> None:
        self.id = oid
        self.customer = customer
        self.actor = actor
        self.correlation_id = corr
        self.lines = lines


# Follow-ups: what becomes due later, scheduled on a heap by due time.


class _CreateCustomer(NamedTuple):
    customer: _Customer


class _FinishOrder(NamedTuple):
    order: _Order
    status: str


class _CreateSubscription(NamedTuple):
    order: _Order
    line: _Line
    subscription_id: str


class _AddSeats(NamedTuple):
    """A completed add-on order line raising an existing subscription's quantity."""

    order: _Order
    line: _Line
    subscription: _Subscription


class _Resolve(NamedTuple):
    """An action that was emitted `in_progress` and now succeeds or fails."""

    customer: _Customer
    actor: _PartnerUser
    action: str
    correlation_id: str
    subscription: _Subscription | None
    user: _User | None
    details: dict[str, Any]


_FollowUp = _CreateCustomer | _FinishOrder | _CreateSubscription | _AddSeats | _Resolve


# ------------------------------------------------------------------ time


def _hour_weight(hour_start_us: int) -> float:
    day = hour_start_us // _DAY_US
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    weight = _HOURLY[(hour_start_us % _DAY_US) // _HOUR_US]
    return weight * _WEEKEND if weekday >= 5 else weight


def _slot_times(rng: random.Random, n: int, start_us: int, end_us: int) -> Iterator[int]:
    """`n` sorted instants (µs since the epoch, whole ms) in [start_us, end_us].

    A non-homogeneous Poisson process conditioned on its count: sorted
    uniforms, drawn one at a time in increasing order (each is the minimum of
    the remaining ones, 1 - U**(1/k)), mapped through the inverse of the
    cumulative office-hours intensity. Constant memory for any `n`.
    """
    if n <= 0:
        return
    lo = -(-start_us // 1000) * 1000  # whole milliseconds inside the window
    hi = end_us // 1000 * 1000
    if lo >= hi:
        # A window with at most one whole millisecond: every event at that instant.
        at = lo if lo == hi else start_us
        for _ in range(n):
            yield at
        return
    # Hour-aligned buckets with their share of the intensity mass.
    starts: list[int] = []
    lengths: list[int] = []
    masses: list[float] = []
    t = lo
    while t < hi:
        nxt = min((t // _HOUR_US + 1) * _HOUR_US, hi)
        starts.append(t)
        lengths.append(nxt - t)
        masses.append((nxt - t) * _hour_weight(t))
        t = nxt
    total = math.fsum(masses)
    last = len(masses) - 1
    bucket = 0
    before = 0.0
    u = 0.0
    prev = lo
    random_ = rng.random
    log = math.log
    expm1 = math.expm1
    for k in range(n, 0, -1):
        u += (1.0 - u) * -expm1(log(1.0 - random_()) / k)
        target = u * total
        while bucket < last and before + masses[bucket] < target:
            before += masses[bucket]
            bucket += 1
        frac = (target - before) / masses[bucket]
        frac = 0.0 if frac < 0.0 else 1.0 if frac > 1.0 else frac
        at = starts[bucket] + int(frac * lengths[bucket])
        at -= at % 1000
        # Rounding must never reorder events nor leave the window.
        at = prev if at < prev else hi if at > hi else at
        prev = at
        yield at


class _Clock:
    """RFC 3339 formatting of µs timestamps in a given offset, fast (dates cached)."""

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def format(self, at_us: int, offset_minutes: int, suffix: str) -> str:
        local = at_us + offset_minutes * 60 * _US
        day, rest = divmod(local, _DAY_US)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = date.fromordinal(_EPOCH_ORDINAL + day).isoformat() + "T"
            self._days[day] = prefix
        seconds, micros = divmod(rest, _US)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        if micros % 1000:
            return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}{suffix}"
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{micros // 1000:03d}{suffix}"


# The bits `uuid.UUID(int=..., version=4)` forces: version 4 and the RFC 4122 variant.
_UUID_CLEAR: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET: Final = (0x4000 << 64) | (0x8000 << 48)


def _uuid4(bits: int) -> str:
    """`str(uuid.UUID(int=bits, version=4))`, without building the object.

    Same string, bit for bit (a unit test holds the two together); ids are
    two of every event's fields, and the UUID object is a third of the cost.
    """
    h = f"{(bits & _UUID_CLEAR) | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


# ------------------------------------------------------------------ the simulation


class _Simulation:
    """The world being simulated, and the loop that turns it into events."""

    def __init__(self, spec: SimulationSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.clock = _Clock()
        self.start_us = _to_us(spec.start)
        self.end_us = _to_us(spec.end)
        self.orders_only = spec.order_share >= 1.0
        self.heap: list[tuple[int, int, _FollowUp]] = []
        self.seq = 0  # tie-breaker: follow-ups due at the same instant keep their order
        self.customers: list[_Customer] = []  # created ones, oldest first
        self.emitted = 0
        self.orders_emitted = 0
        self.orders_pending = 0
        self.partners = [self._make_partner(i) for i in range(spec.partners)]
        self._make_customers()
        self._order_base = self._base_order_probability()

    # -- ids and small draws

    def _uuid(self) -> str:
        return _uuid4(self.rng.getrandbits(128))

    def _pick(self, seq: tuple[str, ...] | list[str]) -> str:
        return seq[int(self.rng.random() * len(seq))]

    def _schedule(self, due_us: int, follow_up: _FollowUp) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due_us, self.seq, follow_up))
        if isinstance(follow_up, _FinishOrder):
            self.orders_pending += 1

    def _delay(self, median_seconds: float, sigma: float, cap_seconds: float) -> int:
        """A log-normal delay in µs: most follow-ups are quick, a few take hours."""
        seconds = min(self.rng.lognormvariate(math.log(median_seconds), sigma), cap_seconds)
        return int(seconds * _US)

    # -- the world

    def _make_partner(self, index: int) -> _Partner:
        rng = self.rng
        company = _PARTNER_COMPANIES[index % len(_PARTNER_COMPANIES)]
        slug = _ascii(company.split()[0]) + ("" if index < len(_PARTNER_COMPANIES) else str(index))
        domain = f"{slug}-partners.example"
        pid = f"ptn-{rng.getrandbits(40):010x}"
        people: list[_PartnerUser] = []
        taken: set[str] = set()  # membership only; never iterated (hash order)
        while len(people) < self.spec.users_per_partner:
            local = f"{self._pick(_PARTNER_FIRST)}.{self._pick(_PARTNER_LAST)}"
            if local in taken:
                local = f"{local}{len(people) + 1}"
            taken.add(local)
            # Most people write UTC timestamps; some systems send their local offset.
            offset = _OFFSETS[int(rng.random() * len(_OFFSETS))]
            ip = (
                f"2001:db8:{index:x}:{len(people):x}::{rng.getrandbits(16):x}"
                if rng.random() < 0.2
                else f"{self._pick(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randrange(1, 255)}"
            )
            people.append(
                _PartnerUser(
                    f"{local}@{domain}",
                    False,
                    offset,
                    ip,
                    _BROWSER_AGENTS[int(rng.random() * len(_BROWSER_AGENTS))],
                )
            )
        # An integration (app id) that acts through the API, as partners' automation does.
        app = _PartnerUser(
            self._uuid(),
            True,
            (0, "Z"),
            f"203.0.113.{rng.randrange(1, 255)}",
            self._pick(_APP_AGENTS),
        )
        return _Partner(pid, people, app)

    def _make_customers(self) -> None:
        """Choose each partner's customers and schedule their creation (mostly early on)."""
        rng = self.rng
        span = self.end_us - self.start_us
        by_category: dict[str, list[tuple[str, str]]] = {}
        for entry in _CUSTOMER_NAMES:
            by_category.setdefault(_name_category(entry[1]), []).append(entry)
        for partner in self.partners:
            wanted = self.spec.customers_per_partner
            chosen: list[tuple[str, str]] = []
            used: set[str] = set()
            # One of each edge case first, so every partner's page meets them.
            for category in _NAME_EDGE_CASES:
                pool = by_category[category]
                entry = pool[int(rng.random() * len(pool))]
                chosen.append(entry)
                used.add(entry[1])
            rest = [entry for entry in _CUSTOMER_NAMES if entry[1] not in used]
            rng.shuffle(rest)
            chosen.extend(rest)
            chosen = chosen[:wanted]
            # More customers than names: branches of the same companies.
            round_ = 0
            while len(chosen) < wanted:
                round_ += 1
                for key, name in _CUSTOMER_NAMES:
                    if len(chosen) >= wanted:
                        break
                    cities = _LOCALES[key].cities
                    city = cities[round_ % len(cities)]
                    suffix = f" ({city})" if round_ <= len(cities) else f" ({city} {round_})"
                    chosen.append((key, name + suffix))
            rng.shuffle(chosen)
            for position, (locale_key, name) in enumerate(chosen):
                locale = _LOCALES[locale_key]
                slug = _ascii(name)[:24]
                if len(slug) < 4:  # CJK, Arabic, Cyrillic names: no usable ASCII
                    slug = f"tenant{rng.getrandbits(24):06x}"
                customer = _Customer(
                    self._uuid(),
                    partner,
                    name,
                    locale,
                    f"{slug}.example",
                    self._pick(locale.cities),
                )
                customer.phone = self._phone(locale)
                if self.orders_only:
                    # No partner actions at all: customers simply exist.
                    self._add_user(customer, self._new_user(customer, ["Global Administrator"]))
                    self.customers.append(customer)
                    continue
                # Each partner's first customer exists from the start; the rest
                # arrive over the window, more of them early (cube of a uniform).
                due = (
                    self.start_us
                    if position == 0
                    else self.start_us + int(span * rng.random() ** 3)
                )
                self._schedule(due, _CreateCustomer(customer))

    def _phone(self, locale: _Locale) -> str:
        prefix = {
            "FR": "+33",
            "DE": "+49",
            "ES": "+34",
            "PL": "+48",
            "JP": "+81",
            "CN": "+86",
            "KR": "+82",
            "GB": "+44",
            "US": "+1",
            "SE": "+46",
        }
        rng = self.rng
        return f"{prefix[locale.country]} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"

    def _new_user(self, customer: _Customer, roles: list[str]) -> _User:
        locale = customer.locale
        first, first_ascii = _person(self._pick(locale.first_names))
        last, last_ascii = _person(self._pick(locale.last_names))
        display = (
            f"{last}{'' if locale.country in ('CN', 'KR') else ' '}{first}"
            if (locale.family_first)
            else f"{first} {last}"
        )
        upn = f"{first_ascii}.{last_ascii}{self.rng.randrange(1, 99)}@{customer.domain}"
        return _User(self._uuid(), upn, display, roles)

    @staticmethod
    def _add_user(customer: _Customer, user: _User) -> None:
        user.index = len(customer.users)
        customer.users.append(user)

    @staticmethod
    def _remove_user(customer: _Customer, user: _User) -> None:
        users = customer.users
        moved = users.pop()
        if moved is not user:
            users[user.index] = moved
            moved.index = user.index
        user.deleted = True

    @staticmethod
    def _file_subscription(customer: _Customer, sub: _Subscription) -> None:
        """Put `sub` in the list matching its status (cancelled: in none)."""
        if sub.status == "cancelled":
            return
        target = customer.active if sub.status == "active" else customer.suspended
        sub.index = len(target)
        target.append(sub)

    @staticmethod
    def _unfile_subscription(customer: _Customer, sub: _Subscription) -> None:
        source = customer.active if sub.status == "active" else customer.suspended
        moved = source.pop()
        if moved is not sub:
            source[sub.index] = moved
            moved.index = sub.index
        sub.index = -1

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
        order_actions = completed * _LINES_MEAN  # each line becomes a subscription.create
        action_events = 1.05
        denominator = order_events - share * (order_events + order_actions - action_events)
        if denominator <= 0:
            return 1.0
        return min(1.0, share * action_events / denominator)

    # -- the loop

    def run(self) -> Iterator[tuple[str, Event]]:
        heap = self.heap
        heappop = heapq.heappop
        topic_of = topic_for_event
        rng = self.rng
        for at in _slot_times(rng, self.spec.total_events, self.start_us, self.end_us):
            if heap and (heap[0][0] <= at or not self.customers):
                # Due follow-ups first; with no customer yet, pull the next creation forward.
                _, _, follow_up = heappop(heap)
                event = self._follow_up(follow_up, at)
            else:
                event = self._fresh(at)
            self.emitted += 1
            yield topic_of(event), event

    def _fresh(self, at: int) -> Event:
        rng = self.rng
        customers = self.customers
        # Older customers are busier: skew the pick toward the front of the list.
        customer = customers[int(len(customers) * rng.random() ** 1.6)]
        if self._order_base > 0.0:
            projected_total = self.emitted + len(self.heap) + 1
            projected_orders = self.orders_emitted + self.orders_pending
            share = projected_orders / projected_total
            p = self._order_base + 2.0 * (self.spec.order_share - share)
            if rng.random() < p:
                return self._place_order(customer, at)
        for _ in range(3):
            action = _ACTION_NAMES[bisect_right(_ACTION_CUM, rng.random() * _ACTION_CUM[-1])]
            event = self._action_by_name(action, customer, at)
            if event is not None:
                return event
        # Nothing eligible (a fresh customer has no subscription yet): an edit always is.
        event = self._action_by_name("customer.update", customer, at)
        assert event is not None
        return event

    def _actor(self, partner: _Partner) -> _PartnerUser:
        if self.rng.random() < 0.15:
            return partner.app
        return partner.people[int(self.rng.random() * len(partner.people))]

    def _timestamp(self, at: int, actor: _PartnerUser | None) -> str:
        """RFC 3339 in UTC mostly; some upstream systems write their local offset."""
        r = self.rng.random()
        if actor is not None and not actor.is_app and r < 0.3:
            return self.clock.format(at, actor.offset[0], actor.offset[1])
        if r < 0.85:
            return self.clock.format(at, 0, "Z")
        return self.clock.format(at, 0, "+00:00")

    # -- partner actions

    def _action_event(
        self,
        at: int,
        customer: _Customer,
        actor: _PartnerUser,
        action: str,
        resource: tuple[str, str, str],
        outcome: str,
        details: dict[str, Any] | None,
        correlation_id: str | None,
        interactive: bool = True,
    ) -> Event:
        """One partner action, fields in contract order; optional ones present as upstream would."""
        rng = self.rng
        event: Event = {
            "event_id": self._uuid(),
            "occurred_at": self._timestamp(at, actor if interactive else None),
            "partner_id": customer.partner.id,
            "partner_user": actor.name,
            "customer_id": customer.id,
            "customer_name": customer.name,
            "action": action,
            "resource_type": resource[0],
            "resource_id": resource[1],
            "resource_name": resource[2],
        }
        # `outcome` defaults to succeeded: some upstream systems leave it out.
        if outcome != "succeeded" or rng.random() < 0.85:
            event["outcome"] = outcome
        if details is not None:
            event["details"] = details
        if correlation_id is not None:
            event["correlation_id"] = correlation_id
        if rng.random() < 0.92:
            event["source"] = _ACTION_SOURCE[action.partition(".")[0]]
        if interactive:
            if rng.random() < 0.75:
                event["actor_ip"] = actor.ip
            if rng.random() < 0.7:
                event["user_agent"] = actor.agent
        return event

    def _outcome(self, can_be_pending: bool) -> str:
        r = self.rng.random()
        if r < self.spec.failure_rate:
            return "failed"
        if can_be_pending and r > 0.95:
            return "in_progress"
        return "succeeded"

    def _failure(self, action: str) -> dict[str, str]:
        rng = self.rng
        pool = _FAILURES[action] if rng.random() < 0.7 else _GENERIC_FAILURES
        code, reason = pool[int(rng.random() * len(pool))]
        return {"reason": reason, "error_code": code}

    def _correlation(self, outcome: str) -> str | None:
        # Always one on a pending action: its resolution must share it.
        if outcome == "in_progress" or self.rng.random() < 0.85:
            return self._uuid()
        return None

    def _action_by_name(self, action: str, customer: _Customer, at: int) -> Event | None:
        """A fresh action of kind `action` on `customer`, or None when it is not possible now."""
        if action.startswith("subscription."):
            return self._subscription_action(action, customer, at)
        if action.startswith("license."):
            return self._license_action(action, customer, at)
        if action.startswith("user."):
            return self._user_action(action, customer, at)
        return self._customer_update(customer, at)

    def _customer_update(self, customer: _Customer, at: int) -> Event:
        rng = self.rng
        actor = self._actor(customer.partner)
        outcome = self._outcome(False)
        r = rng.random()
        if r < 0.06:
            # A rename: later events carry the new name (names are snapshots).
            renamed = f"{customer.base_name} {self._pick(_RENAME_SUFFIXES)}"
            if renamed == customer.name:
                renamed = customer.base_name
            old, new = {"name": customer.name}, {"name": renamed}
        elif r < 0.5:
            old, new = {"phone": customer.phone}, {"phone": self._phone(customer.locale)}
        else:
            city = self._pick(customer.locale.cities)
            postal = f"{rng.randrange(10000, 99999)}"
            old, new = {"city": customer.city}, {"city": city, "postal_code": postal}
        details: dict[str, Any] = {"old": old, "new": new}
        if outcome == "failed":
            details.update(self._failure("customer.update"))
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
            self._correlation(outcome),
        )

    def _user_action(self, action: str, customer: _Customer, at: int) -> Event | None:
        rng = self.rng
        users = customer.users
        actor = self._actor(customer.partner)
        if action == "user.create":
            outcome = self._outcome(True)
            roles = [] if rng.random() < 0.8 else [self._pick(_ROLES)]
            user = self._new_user(customer, roles)
            details: dict[str, Any] = {
                "user": {"upn": user.upn, "display_name": user.display, "roles": roles}
            }
            correlation = self._correlation(outcome)
            if outcome == "in_progress":
                self._schedule_resolve(
                    at, customer, actor, action, correlation, None, user, details
                )
            elif outcome == "failed":
                details.update(self._failure(action))
            else:
                self._add_user(customer, user)
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
        outcome = self._outcome(False)
        info: dict[str, Any] | None = None
        if action == "user.delete":
            if len(users) < 2:
                return None  # never the tenant's last user
            info = {"upn": user.upn}
            if outcome == "succeeded":
                self._remove_user(customer, user)
        elif action == "user.password_reset":
            info = {"force_change_at_next_sign_in": rng.random() < 0.9}
        else:  # user.role_change
            new_roles = sorted({*user.roles, self._pick(_ROLES)} if rng.random() < 0.7 else set())
            if new_roles == user.roles:
                new_roles = [] if user.roles else [self._pick(_ROLES)]
            info = {"old": {"roles": list(user.roles)}, "new": {"roles": new_roles}}
            if outcome == "succeeded":
                user.roles = new_roles
        if outcome == "failed":
            info = {**(info or {}), **self._failure(action)}
        return self._action_event(
            at,
            customer,
            actor,
            action,
            ("user", user.id, user.upn),
            outcome,
            info,
            self._correlation(outcome),
        )

    def _license_action(self, action: str, customer: _Customer, at: int) -> Event | None:
        rng = self.rng
        actor = self._actor(customer.partner)
        if action == "license.assign":
            if not customer.active or not customer.users:
                return None
            sub = customer.active[int(rng.random() * len(customer.active))]
            user = customer.users[int(rng.random() * len(customer.users))]
            outcome = self._outcome(True)
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
            outcome = self._outcome(False)
            if outcome == "succeeded":
                licenses[i] = licenses[-1]
                licenses.pop()
        details: dict[str, Any] = {
            "user": user.upn,
            "sku": sub.product.sku,
            "subscription_id": sub.id,
        }
        correlation = self._correlation(outcome)
        if outcome == "in_progress":
            self._schedule_resolve(at, customer, actor, action, correlation, sub, user, details)
        elif outcome == "failed":
            details = {**details, **self._failure(action)}
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

    def _subscription_action(self, action: str, customer: _Customer, at: int) -> Event | None:
        rng = self.rng
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
        actor = self._actor(customer.partner)
        outcome = self._outcome(True)
        details: dict[str, Any]
        if action == "subscription.quantity_change":
            step = max(2, sub.quantity // 2)
            new_quantity = sub.quantity + rng.choice((-1, 1, 1, 1)) * rng.randint(1, step)
            if new_quantity < 1 or new_quantity == sub.quantity:
                new_quantity = sub.quantity + rng.randint(1, step)
            details = {"old": {"quantity": sub.quantity}, "new": {"quantity": new_quantity}}
        elif action == "subscription.suspend":
            details = {"reason": self._pick(_SUSPEND_REASONS)}
        elif action == "subscription.reactivate":
            details = {"old": {"status": "suspended"}, "new": {"status": "active"}}
        else:
            details = {"reason": self._pick(_CANCEL_REASONS), "previous_status": sub.status}
        correlation = self._correlation(outcome)
        if outcome == "in_progress":
            # Busy until it resolves: nothing else may act on it meanwhile.
            self._unfile_subscription(customer, sub)
            self._schedule_resolve(at, customer, actor, action, correlation, sub, None, details)
        elif outcome == "failed":
            details = {**details, **self._failure(action)}
        else:
            self._unfile_subscription(customer, sub)
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
        self, customer: _Customer, sub: _Subscription, action: str, details: Mapping[str, Any]
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
        self._file_subscription(customer, sub)

    def _schedule_resolve(
        self,
        at: int,
        customer: _Customer,
        actor: _PartnerUser,
        action: str,
        correlation: str | None,
        sub: _Subscription | None,
        user: _User | None,
        details: dict[str, Any],
    ) -> None:
        assert correlation is not None
        due = at + self._delay(45, 1.0, 6 * 3600)
        self._schedule(due, _Resolve(customer, actor, action, correlation, sub, user, details))

    # -- orders

    def _place_order(self, customer: _Customer, at: int) -> Event:
        rng = self.rng
        actor = self._actor(customer.partner)
        count = 1 + bisect_right(_LINES_CUM, rng.random() * _LINES_CUM[-1])
        currency = customer.currency
        lines: list[_Line] = []
        targets: list[_Subscription] = []
        active = customer.active
        for _ in range(count):
            quantity = min(500, max(1, int(rng.lognormvariate(1.6, 1.0))))
            if active and rng.random() < _ADD_ON_SHARE:
                sub = active[int(rng.random() * len(active))]
                if sub not in targets:  # one line per subscription in an order
                    targets.append(sub)
                    quantity = max(1, quantity // 3)  # add-ons are smaller
                    index = _PRICE_INDEX[sub.term, sub.billing_cycle]
                    price = sub.product.prices[currency][index]
                    product, term, cycle = sub.product, sub.term, sub.billing_cycle
                    lines.append(_Line(product, quantity, term, cycle, price, sub))
                    continue
            product = _CATALOG[int(rng.random() * len(_CATALOG))]
            term, cycle, price_index = _TERMS[bisect_right(_TERM_CUM, rng.random() * _TERM_CUM[-1])]
            price = product.prices[currency][price_index]
            lines.append(_Line(product, quantity, term, cycle, price, None))
        order = _Order(f"ord-{rng.getrandbits(48):012X}", customer, actor, self._uuid(), lines)
        # How it ends, and when: usually minutes later, sometimes hours.
        r = rng.random()
        if r < self.spec.failure_rate:
            status, due = "failed", at + self._delay(120, 1.2, 2 * 86400)
        elif r < self.spec.failure_rate + 0.04 * (1.0 - self.spec.failure_rate):
            status, due = "cancelled", at + self._delay(1800, 1.5, 3 * 86400)
        else:
            status, due = "completed", at + self._delay(180, 1.2, 2 * 86400)
        self._schedule(due, _FinishOrder(order, status))
        return self._order_event(at, order, "placed", actor, True)

    def _order_event(
        self,
        at: int,
        order: _Order,
        status: str,
        actor: _PartnerUser,
        interactive: bool,
        subscription_ids: list[str] | None = None,
    ) -> Event:
        rng = self.rng
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
        event: Event = {
            "event_id": self._uuid(),
            "occurred_at": self._timestamp(at, actor if interactive else None),
            "partner_id": customer.partner.id,
            "partner_user": actor.name,
            "customer_id": customer.id,
            "customer_name": customer.name,
            "order_id": order.id,
            "order_status": status,
        }
        if rng.random() < 0.95:
            event["currency"] = customer.currency
        event["line_items"] = items
        event["correlation_id"] = order.correlation_id
        if rng.random() < 0.95:
            event["source"] = (
                "billing" if status == "completed" and rng.random() < 0.2 else ("ordering-service")
            )
        if interactive:
            if rng.random() < 0.75:
                event["actor_ip"] = actor.ip
            if rng.random() < 0.7:
                event["user_agent"] = actor.agent
        self.orders_emitted += 1
        return event

    # -- follow-ups

    def _follow_up(self, follow_up: _FollowUp, at: int) -> Event:
        if isinstance(follow_up, _FinishOrder):
            self.orders_pending -= 1
            return self._finish_order(follow_up, at)
        if isinstance(follow_up, _CreateSubscription):
            return self._create_subscription(follow_up, at)
        if isinstance(follow_up, _AddSeats):
            return self._add_seats(follow_up, at)
        if isinstance(follow_up, _Resolve):
            return self._resolve(follow_up, at)
        return self._create_customer(follow_up.customer, at)

    def _create_customer(self, customer: _Customer, at: int) -> Event:
        admin = self._new_user(customer, ["Global Administrator"])
        self._add_user(customer, admin)
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
        actor = self._actor(customer.partner)
        return self._action_event(
            at,
            customer,
            actor,
            "customer.create",
            ("customer", customer.id, customer.name),
            "succeeded",
            details,
            self._uuid(),
        )

    def _finish_order(self, follow_up: _FinishOrder, at: int) -> Event:
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
            due += self._delay(5, 0.8, 120)
            if line.add_to is not None:
                ids.append(line.add_to.id)
                # Busy until the seats are added, so nothing else acts on it first.
                self._unfile_subscription(customer, line.add_to)
                self._schedule(due, _AddSeats(order, line, line.add_to))
            else:
                ids.append(self._uuid())
                if not self.orders_only:
                    self._schedule(due, _CreateSubscription(order, line, ids[-1]))
        return self._order_event(at, order, status, order.actor, False, ids)

    def _add_seats(self, follow_up: _AddSeats, at: int) -> Event:
        order, line, sub = follow_up
        customer = order.customer
        old = sub.quantity
        sub.quantity = old + line.quantity
        self._file_subscription(customer, sub)
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

    def _create_subscription(self, follow_up: _CreateSubscription, at: int) -> Event:
        order, line, sid = follow_up
        customer = order.customer
        sub = _Subscription(sid, line.product, line.quantity, line.term, line.billing_cycle)
        self._file_subscription(customer, sub)
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

    def _resolve(self, follow_up: _Resolve, at: int) -> Event:
        customer, actor, action, correlation, sub, user, details = follow_up
        outcome = "failed" if self.rng.random() < self.spec.failure_rate else "succeeded"
        # The world may have moved on while this was pending.
        if user is not None and user.deleted:
            outcome = "failed"
        if action == "license.assign" and sub is not None and sub.status == "cancelled":
            outcome = "failed"
        # A deep copy: the pending event holds `details` and a consumer may mutate either.
        final: dict[str, Any] = orjson.loads(orjson.dumps(details))
        if outcome == "failed":
            final.update(self._failure(action))
        if action.startswith("subscription."):
            assert sub is not None
            if outcome == "succeeded":
                self._apply_subscription(customer, sub, action, details)
            else:
                self._file_subscription(customer, sub)  # back to where it was
        elif outcome == "succeeded" and user is not None:
            if action == "user.create":
                self._add_user(customer, user)
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
