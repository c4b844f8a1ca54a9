"""Write the v1 JSON Schema files from the pydantic models: `python -m schemas.generate`.

The models in `schemas.events` are the source of truth; the files under
`schemas/jsonschema/` are for systems in other languages and are committed,
so `--check` (run in CI and by a unit test) fails when they are stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from schemas.events import Order, PartnerAction

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "jsonschema"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

# file name -> (model, $id). URNs, not URLs: the ids name the contracts and
# must never suggest a host that serves them.
SCHEMAS: Final[dict[str, tuple[type[BaseModel], str]]] = {
    "partner-action.v1.json": (PartnerAction, "urn:activitylog:schema:partner-action:v1"),
    "order.v1.json": (Order, "urn:activitylog:schema:order:v1"),
}


class _ContractJsonSchema(GenerateJsonSchema):
    """pydantic's generator without per-property titles ("Event Id"): noise for readers."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def build_schema(model: type[BaseModel], schema_id: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) document of one event model."""
    schema = model.model_json_schema(schema_generator=_ContractJsonSchema, mode="validation")
    for described in (schema, *schema.get("$defs", {}).values()):
        if "description" in described:
            described["description"] = _unwrap(described["description"])
    return {"$schema": DIALECT, "$id": schema_id, **schema}


def _unwrap(docstring: str) -> str:
    """Join a docstring's wrapped lines, keeping its paragraphs (renderers re-wrap)."""
    return "\n\n".join(" ".join(p.split()) for p in docstring.split("\n\n"))


def render(schema: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, 2-space indent, UTF-8 as is, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered_files() -> dict[str, str]:
    """File name -> the text the models generate now."""
    return {name: render(build_schema(model, sid)) for name, (model, sid) in SCHEMAS.items()}


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of the schema files in `directory` that are missing or differ from the models."""
    stale = []
    for name, text in rendered_files().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """Write the files, or with `--check` report stale ones and return 1."""
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is stale"
    )
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help="directory to write to")
    args = parser.parse_args(argv)
    directory: Path = args.out
    if args.check:
        stale = stale_files(directory)
        for name in stale:
            print(f"stale: {directory / name} (run python -m schemas.generate)", file=sys.stderr)
        return 1 if stale else 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_files().items():
        # newline="\n": the same bytes on every platform, or --check would flap.
        (directory / name).write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {directory / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
