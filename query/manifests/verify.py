"""Checking an export against its manifest, and manifests against their chain.

Every fact is derived again from the file itself (`query.manifests.facts`);
a signature is checked only when the signing key is at hand.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from query.manifests.facts import TAP_FORMATS, file_facts
from query.manifests.model import manifest_digest, sign

# What `verify` names when something does not match (docs/contracts.md), plus the event times.
MISMATCHES: Final = (
    "sha256",
    "rows",
    "first_event_at",
    "last_event_at",
    "signature",
    "chain",
)


@dataclass(frozen=True)
class Mismatch:
    """One thing that does not match: its name (`MISMATCHES`) and what was found."""

    name: str
    detail: str


@dataclass
class Verdict:
    """The outcome of a verification: the mismatches (empty = OK) and notes."""

    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def names(self) -> list[str]:
        return [m.name for m in self.mismatches]


def check_file(file: Path, manifest: Mapping[str, Any], *, signing_key: bytes | None) -> Verdict:
    """Compare `file` with its manifest: hash, rows, event times, and the signature."""
    verdict = Verdict()
    fmt = str(manifest.get("format", ""))
    if fmt not in TAP_FORMATS:
        verdict.mismatches.append(Mismatch("format", f"unknown format {fmt!r} in the manifest"))
        return verdict
    try:
        facts = file_facts(file, fmt)
    except ValueError as exc:  # bytes the format's reader cannot follow
        verdict.mismatches.append(Mismatch("rows", str(exc)))
        return verdict
    if facts.sha256 != manifest.get("sha256"):
        verdict.mismatches.append(
            Mismatch(
                "sha256",
                f"the file hashes to {facts.sha256}, the manifest says {manifest.get('sha256')}",
            )
        )
    if facts.rows != manifest.get("rows"):
        verdict.mismatches.append(
            Mismatch(
                "rows",
                f"the file holds {facts.rows} rows, the manifest says {manifest.get('rows')}",
            )
        )
    for name, found in (
        ("first_event_at", facts.first_event_at),
        ("last_event_at", facts.last_event_at),
    ):
        if found != manifest.get(name):
            verdict.mismatches.append(
                Mismatch(name, f"the file says {found}, the manifest says {manifest.get(name)}")
            )
    check_signature(manifest, signing_key, verdict)
    return verdict


def check_signature(
    manifest: Mapping[str, Any], signing_key: bytes | None, verdict: Verdict
) -> None:
    """Add a `signature` mismatch (or a note when no key is at hand) to `verdict`."""
    signature = manifest.get("signature")
    if signing_key is None:
        if signature is not None:
            verdict.notes.append(
                f"signature (key {manifest.get('key_id')}) not checked: "
                "set ACTIVITYLOG_EXPORT_SIGNING_KEY to check it"
            )
        return
    if not isinstance(signature, str):
        verdict.mismatches.append(Mismatch("signature", "the manifest is not signed"))
        return
    if not hmac.compare_digest(sign(manifest, signing_key), signature):
        verdict.mismatches.append(
            Mismatch(
                "signature",
                "does not match with the key given "
                f"(the manifest names key {manifest.get('key_id')})",
            )
        )


def check_chain(
    manifests: Sequence[Mapping[str, Any]], names: Sequence[str], *, signing_key: bytes | None
) -> Verdict:
    """Check that each manifest's `previous` is the SHA-256 of the one before (same partner)."""
    verdict = Verdict()
    for index, manifest in enumerate(manifests):
        one = Verdict()
        check_signature(manifest, signing_key, one)
        for m in one.mismatches:
            verdict.mismatches.append(Mismatch(m.name, f"{names[index]}: {m.detail}"))
        verdict.notes.extend(f"{names[index]}: {n}" for n in one.notes)
        if index == 0:
            continue
        before = manifests[index - 1]
        expected = manifest_digest(before)
        if manifest.get("partner_id") != before.get("partner_id"):
            verdict.mismatches.append(
                Mismatch(
                    "chain",
                    f"{names[index]} is partner {manifest.get('partner_id')!r}, "
                    f"{names[index - 1]} is partner {before.get('partner_id')!r}",
                )
            )
        elif manifest.get("previous") != expected:
            verdict.mismatches.append(
                Mismatch(
                    "chain",
                    f"{names[index]}: previous is {manifest.get('previous')}, "
                    f"the SHA-256 of {names[index - 1]} is {expected}",
                )
            )
    return verdict


def verify(file: Path, manifest: Mapping[str, Any], *, signing_key: bytes | None) -> list[str]:
    """The names of what does not match between `file` and `manifest`; [] means OK."""
    return check_file(file, manifest, signing_key=signing_key).names()
