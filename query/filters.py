"""What a reader asks for: a time range, the partner, and the optional filters.

`FILTER_FIELDS` is the one list of optional filters: the HTTP parameters, the CLI
options, export jobs and export manifests all take their names from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from query.ranges import TimeRange

# The optional filters, by their HTTP parameter names (also ActivityFilter's fields).
FILTER_FIELDS: Final[tuple[str, ...]] = (
    "customer_id",
    "customer",
    "action",
    "partner_user",
    "status",
    "q",
)


# The trigram index's n: a shorter text has no trigram to look up.
_NGRAM = 3
_ASCII_RUN = re.compile(r"[\x00-\x7f]+")


def name_index_run(text: str) -> str | None:
    """The longest ASCII run of `text`, in lower case, if the name index can look it up.

    Why ASCII only: the characters that `positionCaseInsensitiveUTF8` matches
    to an ASCII character are that character in either case and the Kelvin
    sign (for k), and `lowerUTF8` lowers each of them to it; so a name the
    filter finds `text` in contains this run once lowered, and the index
    condition never drops a row the filter keeps (checked over every code
    point by tests/integration/test_read_indexes.py). Beyond ASCII, the case
    folding of search and of `lowerUTF8` differ on a few letters.
    """
    longest = max(_ASCII_RUN.findall(text), key=len, default="")
    return longest.lower() if len(longest) >= _NGRAM else None


@dataclass(frozen=True)
class ActivityFilter:
    """What a reader asked for. `partner_id` None means every partner (an admin key)."""

    range: TimeRange
    partner_id: str | None = None
    # The optional filters, in FILTER_FIELDS order.
    customer_id: str | None = None
    customer: str | None = None
    action: str | None = None
    partner_user: str | None = None
    status: str | None = None
    q: str | None = None

    def key_where(self) -> str:
        """The part of `where()` on activity's sort-key columns (the range and the partner),
        with the same parameters: what a FINAL read may apply as PREWHERE.

        Why only these: PREWHERE runs before FINAL collapses the copies of an
        event, and every copy has the same sort key, so a condition on key
        columns keeps or drops all of them together. A condition on another
        column could keep one copy of an event and drop the one FINAL keeps.
        """
        clauses = [
            "occurred_at >= {start:DateTime64(3, 'UTC')}",
            "occurred_at < {end:DateTime64(3, 'UTC')}",
        ]
        if self.partner_id is not None:
            clauses.append("partner_id = {partner_id:String}")
        return " AND ".join(clauses)

    def where(self) -> tuple[str, dict[str, Any]]:
        """The WHERE clause and its parameters; user text only ever enters as a parameter."""
        clauses = [self.key_where()]
        params: dict[str, Any] = {"start": self.range.start, "end": self.range.end}
        if self.partner_id is not None:
            params["partner_id"] = self.partner_id
        # Exact matches; the column names are our constants, the values parameters.
        for column in ("customer_id", "partner_user", "status"):
            if value := getattr(self, column):
                clauses.append(f"{column} = {{{column}:String}}")
                params[column] = value
        if self.customer:
            clauses.append("positionCaseInsensitiveUTF8(customer_name, {customer:String}) > 0")
            params["customer"] = self.customer
            if run := name_index_run(self.customer):
                # Implied by the clause above, in the form the trigram index on
                # lowerUTF8(customer_name) answers (schemas/migrations/0005_read_indexes.sql).
                clauses.append("multiSearchAny(lowerUTF8(customer_name), [{customer_run:String}])")
                params["customer_run"] = run
        if self.action:
            # An exact dotted verb, or a prefix such as `subscription` / `order`.
            clauses.append(
                "(action = {action:String} OR startsWith(action, {action_prefix:String}))"
            )
            params["action"] = self.action
            params["action_prefix"] = self.action.rstrip(".") + "."
        if self.q:
            clauses.append(
                "multiSearchAnyCaseInsensitiveUTF8(concat(customer_name, ' ', customer_id, ' ', "
                "action_text, ' ', partner_user, ' ', status_text, ' ', additional_info, ' ', "
                "event_id, ' ', order_id, ' ', resource_id), [{q:String}])"
            )
            params["q"] = self.q
        return " AND ".join(clauses), params

    def filters(self) -> dict[str, str]:
        """The optional filters that are set, by name, in FILTER_FIELDS order."""
        return {name: value for name in FILTER_FIELDS if (value := getattr(self, name))}

    @classmethod
    def from_params(
        cls, range_: TimeRange, partner_id: str | None, params: Mapping[str, Any]
    ) -> ActivityFilter:
        """The filter for `range_` and `partner_id` with the filters present in `params`."""
        chosen = {name: params[name] for name in FILTER_FIELDS if params.get(name)}
        return cls(range=range_, partner_id=partner_id, **chosen)
