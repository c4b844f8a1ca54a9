"""The simulator's reference data: locales, company and people names, products, prices, actions.

Invented companies and people. `.example` domains and documentation IP
ranges (RFC 5737, RFC 3849) so nothing points at a real organisation. The
data is fixed (nothing here is drawn from the seed), so every run meets the
same world's vocabulary and the seed decides only who does what, and when.
"""

from __future__ import annotations

import hashlib
import unicodedata
from itertools import accumulate
from typing import Final, NamedTuple

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


class Locale(NamedTuple):
    country: str
    currency: str
    culture: str
    cities: tuple[str, ...]
    first_names: tuple[str, ...]  # "display" or "display|ascii"
    last_names: tuple[str, ...]
    family_first: bool  # display name order: 山田 太郎, 김민준


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


LOCALES: Final[dict[str, Locale]] = {
    "fr": Locale(
        "FR",
        "EUR",
        "fr-FR",
        _split("Lyon, Marseille, Lille, Nantes, Bordeaux, Strasbourg, Besançon, Orléans"),
        _split("Élodie, Gaëtan, Hélène, Noël, Zoé, Benoît, Maëlle, François, Cécile, Jérôme"),
        _split("Lefèvre, Dubois, Roux, Brûlé, Garnier, Bérénger, Moreau, Faure, Lemaître"),
        False,
    ),
    "de": Locale(
        "DE",
        "EUR",
        "de-DE",
        _split("München, Köln, Düsseldorf, Nürnberg, Lübeck, Göttingen, Würzburg, Saarbrücken"),
        _split("Jürgen, Jörg, Björn, Käthe, Günther, Sören, Uwe, Anneliese, Lökman, Maximilian"),
        _split("Müller, Schäfer, Köhler, Weiß, Großmann, Häußler, Fuß, Bößenecker, Östreicher"),
        False,
    ),
    "es": Locale(
        "ES",
        "EUR",
        "es-ES",
        _split("Málaga, Córdoba, León, Cádiz, Logroño, A Coruña, Ávila, Jaén"),
        _split("Begoña, Íñigo, Nuria, José, Inés, Ramón, Maite, Álvaro, Ángela"),
        _split("Peñalver, Muñoz, Íñiguez, Ortúzar, Núñez, Castaño, Gómez, Sáenz"),
        False,
    ),
    "pl": Locale(
        "PL",
        "PLN",
        "pl-PL",
        _split("Łódź, Kraków, Gdańsk, Wrocław, Poznań, Białystok, Rzeszów, Toruń"),
        _split("Łukasz, Zofia, Małgorzata, Wojciech, Agnieszka, Paweł, Bożena, Jędrzej"),
        _split("Łukasiewicz, Wróbel, Żółkiewski, Kowalska, Nowak, Wiśniewski, Gęsicki"),
        False,
    ),
    "ja": Locale(
        "JP",
        "JPY",
        "ja-JP",
        _split("東京, 大阪, 名古屋, 札幌, 福岡, 横浜"),
        _split("太郎|taro, 花子|hanako, 健|ken, 陽菜|hina, 翔太|shota, 美咲|misaki"),
        _split("山田|yamada, 佐藤|sato, 鈴木|suzuki, 高橋|takahashi, 田中|tanaka, 伊藤|ito"),
        True,
    ),
    "zh": Locale(
        "CN",
        "CNY",
        "zh-CN",
        _split("北京, 上海, 深圳, 杭州, 广州, 成都"),
        _split("伟|wei, 芳|fang, 娜|na, 强|qiang, 静|jing, 磊|lei"),
        _split("王|wang, 李|li, 张|zhang, 刘|liu, 陈|chen, 杨|yang"),
        True,
    ),
    "ko": Locale(
        "KR",
        "KRW",
        "ko-KR",
        _split("서울, 부산, 인천, 대구, 광주, 대전"),
        _split("민준|minjun, 서연|seoyeon, 지훈|jihun, 하은|haeun, 도윤|doyun"),
        _split("김|kim, 이|lee, 박|park, 최|choi, 정|jung"),
        True,
    ),
    "en": Locale(
        "GB",
        "GBP",
        "en-GB",
        _split("London, Manchester, Leeds, Bristol, Glasgow, Cardiff, Belfast, York"),
        _split("Oliver, Amelia, Siobhán, Liam, Chloë, Harry, Niamh, Seán, Grace, Jack"),
        _split("O'Brien, Smith, Jones, Taylor, Brown, McAllister, Davies, Nic Amhlaoibh"),
        False,
    ),
    "us": Locale(
        "US",
        "USD",
        "en-US",
        _split("Seattle, Austin, Denver, Boston, Chicago, Atlanta, Portland, San José"),
        _split("Emma, Noah, Olivia, Mateo, Ava, Ethan, Renée, Andrés, Harper, Lucas"),
        _split("Johnson, Williams, García, Martínez, Miller, Anderson, Nguyễn, Thompson"),
        False,
    ),
    "xx": Locale(  # the rest of the world, in its own scripts
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
CUSTOMER_NAMES: Final[tuple[tuple[str, str], ...]] = (
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
NAME_EDGE_CASES: Final[tuple[str, ...]] = ("cjk", "accent", "comma_quote", "formula", "long")


def _is_cjk(name: str) -> bool:
    return any(
        "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7a3"
        for ch in name
    )


def name_category(name: str) -> str:
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


PARTNER_COMPANIES: Final[tuple[str, ...]] = _split(
    "Contoso Cloud Solutions, Fabrikam IT Services, Adventure Works Consulting, Litware Systems, "
    "Woodgrove Digital, Trey Research Partners, Alpine Ski House IT, Coho Networks, "
    "Margie's Travel Tech, Datum Managed Services, Relecloud Integrators, VanArsdel Cloud, "
    "Humongous Insurance IT, Graphic Design Institute Tech, Southridge Video Systems"
)

PARTNER_FIRST: Final = _split(
    "camille, lukas, sofia, hugo, emma, jonas, lea, mateo, ines, noah, clara, elias, nora, tom"
)
PARTNER_LAST: Final = _split(
    "martin, schmidt, garcia, bernard, rossi, novak, jensen, dubois, kowalski, murphy, berg"
)

ROLES: Final = (
    "Global Administrator",
    "Billing Administrator",
    "User Administrator",
    "Helpdesk Administrator",
    "License Administrator",
    "Security Reader",
)

BROWSER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
)
APP_AGENTS: Final = (
    "PartnerCenterSDK/3.4.0 (.NET 8.0.11; Windows)",
    "PartnerCenter.PowerShell/3.0.10",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
)

# UTC offsets that upstream systems write timestamps in (minutes, suffix).
OFFSETS: Final[tuple[tuple[int, str], ...]] = (
    (60, "+01:00"),
    (120, "+02:00"),
    (-300, "-05:00"),
    (-480, "-08:00"),
    (330, "+05:30"),
    (540, "+09:00"),
    (-210, "-03:30"),
    (345, "+05:45"),
)


class Product(NamedTuple):
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


def _build_catalog() -> tuple[Product, ...]:
    products = []
    for index, (name, sku, cents) in enumerate(_CATALOG_SOURCE):
        prices = {
            # Monthly terms cost 20% more than yearly ones (as in real NCE pricing).
            cur: (_price(cents * 1.2, cur), _price(cents, cur), _price(cents * 12, cur))
            for cur in _FX
        }
        offer = f"{_offer_code(name)}:{1 + index % 3:04d}"
        products.append(Product(name, sku, offer, prices))
    return tuple(products)


CATALOG: Final = _build_catalog()

# Term / billing cycle combinations: (term, billing_cycle, index into prices); weights below.
TERMS: Final[tuple[tuple[str, str, int], ...]] = (
    ("P1M", "monthly", 0),
    ("P1Y", "monthly", 1),
    ("P1Y", "annual", 2),
)
TERM_CUM: Final = tuple(accumulate((25, 40, 35)))
PRICE_INDEX: Final = {(term, cycle): index for term, cycle, index in TERMS}

# Chance that an order line adds seats to a subscription the customer has,
# rather than buying a new one (when it has one to add to).
ADD_ON_SHARE: Final = 0.5

# Line-item counts 1..10: most orders buy one product, a few buy many.
_LINES_WEIGHTS: Final = (58, 15, 8, 5, 4, 3, 2, 2, 1, 2)
LINES_CUM: Final = tuple(accumulate(_LINES_WEIGHTS))
LINES_MEAN: Final = sum(n * w for n, w in enumerate(_LINES_WEIGHTS, 1)) / sum(_LINES_WEIGHTS)

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
ACTION_NAMES: Final = tuple(name for name, _ in _ACTION_WEIGHTS)
ACTION_CUM: Final = tuple(accumulate(weight for _, weight in _ACTION_WEIGHTS))

# Why an action failed: (error_code, reason), per action, plus generic ones.
FAILURES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
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
GENERIC_FAILURES: Final = (
    ("GatewayTimeout", "Upstream service did not answer within 30 s"),
    ("TooManyRequests", "Throttled: too many requests, retry after 60 s"),
)

RENAME_SUFFIXES: Final = ("Group", "Holding", "International", "& Co.", "(Europe)")
SUSPEND_REASONS: Final = ("non_payment", "customer_request", "fraud_review", "partner_request")
CANCEL_REASONS: Final = ("customer_request", "downgrade", "moved_to_other_offer", "non_payment")

# Where a partner action is recorded upstream, by action family.
ACTION_SOURCE: Final = {
    "customer": "partner-center",
    "user": "identity",
    "license": "identity",
    "subscription": "billing",
}

# International dialling prefix of each locale's country.
COUNTRY_CODES: Final[dict[str, str]] = {
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

_ASCII_FOLD: Final = str.maketrans(
    {"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "ı": "i", "đ": "d", "œ": "oe"}
)


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits of `text`: 'Bößenecker' -> 'boessenecker'."""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


def person(entry: str) -> tuple[str, str]:
    """'太郎|taro' -> ('太郎', 'taro'); 'Élodie' -> ('Élodie', 'elodie')."""
    display, _, romanized = entry.partition("|")
    return display, romanized or ascii_fold(display)
