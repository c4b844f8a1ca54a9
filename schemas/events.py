"""The v1 event contracts (docs/contracts.md) as validating pydantic types: the one source.

`schemas.generate` writes `schemas/jsonschema/*.json` from these models for
systems in other languages; a unit test fails when the two drift apart.

Contract decisions every reader and writer should know:

* Unknown extra fields are kept (`model_extra`), never rejected.
* Optional fields may be absent or explicitly `null`; both mean "absent".
  A `null` `outcome` therefore means the default, `succeeded`.
* Required strings must be non-empty. Optional strings have no length rule.
* `occurred_at` is an RFC 3339 string with an offset (`Z` or `+hh:mm`), seconds
  required, leap second `:60` refused (Python cannot represent it); it is
  converted to an aware UTC `datetime`. From Python an aware `datetime` is
  accepted too (a producer convenience; JSON has no such type).
* `event_id` stays the string that was sent (any UUID version, any hex case).
* `outcome` and `order_status` are typed `str`, not enums: writers are
  validated against the v1 values, but readers (`lenient_enums=True`) accept
  values they do not know yet, so code reading them must handle any string.
* Partner-level actions (additive to v1): a partner action with
  `"scope": "partner"` concerns the partner itself (e.g. `export.create`), not
  one customer, so it carries no `customer_id`/`customer_name` (absent or
  null; present is refused) and its Kafka key is `partner_id`. Without
  `scope` (or with `"customer"`) both are required, exactly as before: every
  v1 event keeps validating, keying and normalizing as it did. Orders always
  concern a customer. Readers show such a row with an empty Affected customer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from common.errors import InvalidEvent
from schemas.topics import ORDERS_TOPIC, PARTNER_ACTIONS_TOPIC

# Patterns are written for ECMA-262, Rust `regex` (pydantic) and Python `re`
# alike: `[0-9]` rather than `\d`, which is Unicode-aware in the latter two.
UUID_PATTERN: Final = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
ACTION_PATTERN: Final = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
CURRENCY_PATTERN: Final = r"^[A-Z]{3}$"
DECIMAL_PATTERN: Final = r"^-?[0-9]+(\.[0-9]+)?$"
# RFC 3339 §5.6 `date-time`, minus the leap second. Calendar validity (no
# 30 February) is beyond a regular expression: Python checks it, and so does a
# JSON Schema validator that asserts `format: date-time`.
RFC3339_PATTERN: Final = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339 = re.compile(RFC3339_PATTERN)

LENIENT_ENUMS: Final = "lenient_enums"
_LENIENT_CONTEXT: Final[dict[str, Any]] = {LENIENT_ENUMS: True}


class Outcome(StrEnum):
    """The v1 values of a partner action's `outcome`."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"


class Scope(StrEnum):
    """Whom a partner action concerns: one customer (the v1 default) or the partner itself."""

    CUSTOMER = "customer"
    PARTNER = "partner"


class OrderStatus(StrEnum):
    """The v1 values of an order's `order_status`."""

    PLACED = "placed"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


_TIMESTAMP_RULE: Final = "must be an RFC 3339 timestamp with an offset"


def _parse_occurred_at(value: object) -> datetime:
    """RFC 3339 string (or aware datetime) -> aware UTC datetime.

    Our own parser because pydantic's lax datetime also takes Unix numbers,
    date-only strings and minutes without seconds, and keeps the offset.
    """
    if isinstance(value, str):
        if _RFC3339.fullmatch(value):
            try:
                # fromisoformat wants upper-case T and Z; RFC 3339 allows either case.
                return datetime.fromisoformat(value.upper()).astimezone(UTC)
            except (ValueError, OverflowError):
                pass  # 30 February, year 0, or out of range once moved to UTC
    elif isinstance(value, datetime) and value.utcoffset() is not None:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            pass
    raise PydanticCustomError("rfc3339", _TIMESTAMP_RULE)


def _enum_validator(
    values: type[StrEnum], default: str | None = None
) -> Callable[[object, ValidationInfo], str]:
    """A validator checking a string against `values`, except under the lenient context.

    A plain validator on `str` (not an enum type) so that readers accept values
    they do not know yet through the same model, and so the static type says
    `str`, which is what a reader may actually get.
    """
    allowed = frozenset(v.value for v in values)
    rule = "must be one of " + ", ".join(v.value for v in values)

    def validate(value: object, info: ValidationInfo) -> str:
        if value is None and default is not None:
            return default
        if isinstance(value, str):
            if value in allowed:
                return value if type(value) is str else str(value)
            context = info.context
            if context is not None and context.get(LENIENT_ENUMS):
                if value:
                    return value
                raise PydanticCustomError("enum_empty", "must not be empty")
        raise PydanticCustomError("enum", rule)

    return validate


def _enum_schema(values: type[StrEnum]) -> dict[str, Any]:
    return {"type": "string", "enum": [v.value for v in values]}


OccurredAt = Annotated[
    datetime,
    BeforeValidator(_parse_occurred_at),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": RFC3339_PATTERN,
            "description": (
                "When it happened upstream: RFC 3339 with an offset (Z or +hh:mm), "
                "seconds required; stored in UTC."
            ),
        }
    ),
]

OutcomeStr = Annotated[
    str,
    PlainValidator(_enum_validator(Outcome, default=Outcome.SUCCEEDED.value)),
    WithJsonSchema(
        {
            "anyOf": [_enum_schema(Outcome), {"type": "null"}],
            "default": Outcome.SUCCEEDED.value,
            "description": (
                "How the action ended; absent or null means succeeded. Writers use "
                "these v1 values; readers show a value they do not know as it is."
            ),
        }
    ),
]

_validate_scope_value = _enum_validator(Scope)


def _validate_scope(value: object, info: ValidationInfo) -> str | None:
    """None stays None (absent means customer, and stays out of the JSON a producer sends)."""
    return None if value is None else _validate_scope_value(value, info)


ScopeStr = Annotated[
    str | None,
    PlainValidator(_validate_scope),
    WithJsonSchema(
        {
            "anyOf": [_enum_schema(Scope), {"type": "null"}],
            "default": Scope.CUSTOMER.value,
            "description": (
                "Whom the action concerns: customer (absent or null; customer_id and "
                "customer_name required) or partner (a partner-level action such as "
                "export.create: no customer_id/customer_name, Kafka key partner_id)."
            ),
        }
    ),
]

OrderStatusStr = Annotated[
    str,
    PlainValidator(_enum_validator(OrderStatus)),
    WithJsonSchema(
        {
            **_enum_schema(OrderStatus),
            "description": (
                "Where the order stands. Writers use these v1 values; readers show a "
                "value they do not know as it is."
            ),
        }
    ),
]

# `strict`: no int <-> str <-> bool coercion, as a JSON Schema validator would
# refuse them too; `extra='allow'`: unknown fields are kept (docs/contracts.md, Event contracts).
_CONFIG: Final = ConfigDict(extra="allow", strict=True, frozen=True)


class LineItem(BaseModel):
    """One product line of an order. Unknown extra fields are kept."""

    model_config = _CONFIG

    product_name: str = Field(
        min_length=1, description="Product name as it was when the order was placed."
    )
    quantity: int = Field(ge=1, description="How many units; an integer, at least 1.")
    offer_id: str | None = Field(default=None, description="Catalogue offer id.")
    sku: str | None = Field(default=None, description="Stock-keeping unit.")
    unit_price: str | None = Field(
        default=None,
        pattern=DECIMAL_PATTERN,
        description='One unit\'s price as a decimal string, e.g. "12.50", in the order currency.',
    )
    subscription_id: str | None = Field(
        default=None, description="The subscription this line creates or changes."
    )
    term: str | None = Field(default=None, description="Commitment term, e.g. P1Y.")
    billing_cycle: str | None = Field(default=None, description="e.g. monthly, annual.")


class _Event(BaseModel):
    """Fields shared by every v1 event: who did what to which customer, and when."""

    model_config = _CONFIG

    TOPIC: ClassVar[str]

    event_id: str = Field(
        pattern=UUID_PATTERN,
        json_schema_extra={"format": "uuid"},
        description="Idempotency key, a UUID (any version): the same id twice is one activity.",
    )
    occurred_at: OccurredAt
    partner_id: str = Field(min_length=1, description="The partner (tenant) that acted.")
    partner_user: str = Field(
        min_length=1, description="UPN or e-mail of the partner user, or an application id."
    )
    customer_id: str = Field(
        min_length=1, description="The affected customer's id; also the Kafka message key."
    )
    customer_name: str = Field(
        min_length=1, description="The customer's company name when the event happened."
    )
    correlation_id: str | None = Field(default=None, description="Tracing: correlation id.")
    source: str | None = Field(default=None, description="Tracing: the emitting system.")
    actor_ip: str | None = Field(default=None, description="IP address the action came from.")
    user_agent: str | None = Field(default=None, description="User agent the action came from.")

    @property
    def kafka_key(self) -> str:
        """The Kafka message key: the customer, so one customer's events stay in order."""
        return self.customer_id


_CUSTOMER_FIELDS: Final = ("customer_id", "customer_name")


def _scope_rule_schema(schema: dict[str, Any]) -> None:
    """JSON Schema of the scope rule: customer fields required unless scope is partner.

    The same rule as `PartnerAction._customer_matches_scope`, for validators
    in other languages (if/then/else, draft 2020-12).
    """
    schema["required"] = [n for n in schema.get("required", []) if n not in _CUSTOMER_FIELDS]
    schema["if"] = {
        "properties": {"scope": {"const": Scope.PARTNER.value}},
        "required": ["scope"],
    }
    schema["then"] = {"properties": {name: {"type": "null"} for name in _CUSTOMER_FIELDS}}
    schema["else"] = {
        "required": list(_CUSTOMER_FIELDS),
        "properties": {name: {"type": "string"} for name in _CUSTOMER_FIELDS},
    }


class PartnerAction(_Event):
    """A partner acted on a customer account, or on its own (topic activity.partner-actions.v1).

    Kafka message key: customer_id; partner_id for a partner-level action
    (`scope` partner, no customer). Unknown extra fields are kept. Names are
    snapshots taken when it happened.
    """

    model_config = ConfigDict(**_CONFIG, json_schema_extra=_scope_rule_schema)

    TOPIC: ClassVar[str] = PARTNER_ACTIONS_TOPIC

    # Optional here only so that a partner-level action can leave them out;
    # `_customer_matches_scope` requires them for every customer action.
    customer_id: str | None = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        description=(
            "The affected customer's id; also the Kafka message key. Required unless "
            "scope is partner, and then absent."
        ),
    )
    customer_name: str | None = Field(  # type: ignore[assignment]
        default=None,
        min_length=1,
        description=(
            "The customer's company name when the event happened. Required unless "
            "scope is partner, and then absent."
        ),
    )

    action: str = Field(
        pattern=ACTION_PATTERN,
        description=(
            "Dotted lowercase verb, e.g. customer.create, user.password_reset, "
            "subscription.quantity_change."
        ),
    )
    resource_type: str | None = Field(
        default=None, description="customer, user, license, subscription, ..."
    )
    resource_id: str | None = Field(default=None, description="Id of the resource acted on.")
    resource_name: str | None = Field(
        default=None, description="Its name then, e.g. the product name of a subscription."
    )
    outcome: OutcomeStr = Outcome.SUCCEEDED.value
    details: dict[str, Any] | None = Field(
        default=None,
        description='Free-form, e.g. {"old": {"quantity": 5}, "new": {"quantity": 8}}.',
    )
    scope: ScopeStr = None

    @model_validator(mode="after")
    def _customer_matches_scope(self) -> PartnerAction:
        """A customer action names its customer; a partner-level action names none."""
        partner_level = self.scope == Scope.PARTNER.value
        for name in _CUSTOMER_FIELDS:
            present = getattr(self, name) is not None
            if not partner_level and not present:
                raise PydanticCustomError("scope_required", "is required", {"field": name})
            if partner_level and present:
                raise PydanticCustomError(
                    "scope_absent", "must be absent when scope is partner", {"field": name}
                )
        return self

    @property
    def partner_level(self) -> bool:
        """The action concerns the partner itself: no customer, keyed by partner_id."""
        return self.scope == Scope.PARTNER.value

    @property
    def kafka_key(self) -> str:
        """The message key: the customer, or the partner for a partner-level action.

        `kafka_key_field` is the same rule for an event not built into a model.
        """
        return self.partner_id if self.customer_id is None else self.customer_id


class Order(_Event):
    """An order for a customer (topic activity.orders.v1), with its line items.

    Kafka message key: customer_id. Unknown extra fields are kept. Names are
    snapshots taken when it happened.
    """

    TOPIC: ClassVar[str] = ORDERS_TOPIC

    order_id: str = Field(min_length=1, description="The order's id.")
    order_status: OrderStatusStr
    currency: str | None = Field(
        default=None,
        pattern=CURRENCY_PATTERN,
        description="ISO 4217 code of the unit prices, e.g. EUR.",
    )
    line_items: list[LineItem] = Field(min_length=1, description="What was ordered; at least one.")


Event = PartnerAction | Order

EVENT_MODELS: Final[dict[str, type[PartnerAction] | type[Order]]] = {
    PARTNER_ACTIONS_TOPIC: PartnerAction,
    ORDERS_TOPIC: Order,
}


def kafka_key_field(event: Mapping[str, Any]) -> str:
    """The field whose value keys `event` in Kafka: the `kafka_key` rule, on decoded JSON.

    `partner_id` for a partner-level action (`scope` partner, no customer),
    `customer_id` for every other event; for a valid event its value is the
    model's `kafka_key`. For paths that decode a line but do not build the
    model: pre-validated bulk input, and routing a line to the process that
    publishes its key.
    """
    if event.get("scope") == Scope.PARTNER.value and event.get("customer_id") is None:
        return "partner_id"
    return "customer_id"


def validate_event(
    topic: str,
    raw: bytes | str | Mapping[str, Any],
    *,
    lenient_enums: bool = False,
) -> PartnerAction | Order:
    """Validate one event of `topic` against its v1 contract, or raise `InvalidEvent`.

    Bytes and str are parsed as JSON by pydantic-core directly (the fast
    path); a mapping is validated as already-decoded JSON. With
    `lenient_enums` (readers, the processor) an `outcome` or `order_status`
    this version does not know is kept as it is; every other rule applies.
    The error names the first failing field as a dotted path
    (`line_items.0.quantity`, or "" for the whole document).
    """
    model = EVENT_MODELS.get(topic)
    if model is None:
        known = ", ".join(EVENT_MODELS)
        raise InvalidEvent("", f"unknown topic {topic!r} (expected one of {known})")
    context = _LENIENT_CONTEXT if lenient_enums else None
    try:
        if isinstance(raw, bytes | bytearray | str):
            return model.model_validate_json(raw, context=context)
        if isinstance(raw, Mapping):
            return model.model_validate(
                raw if isinstance(raw, dict) else dict(raw), context=context
            )
    except ValidationError as exc:
        raise _invalid_event(exc) from exc
    raise InvalidEvent("", "must be a JSON object")


# What a person reads for each pydantic error type; `{...}` take the error's ctx.
_RULES: Final[dict[str, str]] = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "greater_than_equal": "must be at least {ge}",
    "list_type": "must be an array",
    "too_short": "must have at least {min_length} item",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "json_invalid": "is not valid JSON: {error}",
    "json_type": "must be JSON text",
}

# Pattern mismatches are explained per field: the regex itself helps nobody.
_PATTERN_RULES: Final[dict[str, str]] = {
    "event_id": "must be a UUID string (8-4-4-4-12 hexadecimal digits)",
    "action": "must be a dotted lowercase verb such as customer.create",
    "currency": "must be an ISO 4217 code of three capital letters, e.g. EUR",
    "unit_price": 'must be a decimal string such as "12.50"',
}


def _invalid_event(exc: ValidationError) -> InvalidEvent:
    """pydantic's first error -> `InvalidEvent(dotted field path, short rule)`."""
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = error["loc"]
    ctx = error.get("ctx") or {}
    if not loc and isinstance(ctx.get("field"), str):
        # A whole-model rule (the scope rule) names the field it is about.
        loc = (ctx["field"],)
    field = ".".join(str(part) for part in loc)
    return InvalidEvent(field, _rule(error, loc))


def _rule(error: ErrorDetails, loc: tuple[int | str, ...]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "string_pattern_mismatch":
        name = next((p for p in reversed(loc) if isinstance(p, str)), "")
        return _PATTERN_RULES.get(name, "does not match {pattern}").format(**ctx)
    if kind in ("model_type", "model_attributes_type", "dict_type") and not loc:
        return "must be a JSON object"
    template = _RULES.get(kind)
    if template is None:
        # Our own PydanticCustomError messages are already rules; anything
        # else keeps pydantic's wording rather than hiding it.
        return error["msg"]
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return error["msg"]
