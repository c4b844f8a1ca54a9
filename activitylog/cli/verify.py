"""`activitylog verify`: check an export against its manifest, or a chain of manifests (§9).

Needs no store and no server: everything is re-derived from the files (the
hash of the bytes, the rows counted in the file itself, the event times),
and the signature is checked when ACTIVITYLOG_EXPORT_SIGNING_KEY is set.
Prints `OK ...` and exits 0, or one `MISMATCH <name>: <what>` line per
thing that does not match (`sha256`, `rows`, `first_event_at`,
`last_event_at`, `signature`, `chain`) and exits 1. A file or manifest that
cannot be read is one `error:` line and exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import ConfigError
from common.settings import Settings
from query.manifests.model import manifest_digest
from query.manifests.verify import Verdict, check_chain, check_file

MISMATCH_EXIT = 1
REQUIRED = ("export_id", "partner_id", "format", "rows", "sha256", "previous")


def verify(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="FILE [MANIFEST] (MANIFEST defaults to FILE.manifest.json), "
            "or with --chain the manifests M1 M2 ... oldest first",
            show_default=False,
            metavar="FILE [MANIFEST] | M1 M2 ...",
        ),
    ] = None,
    chain: Annotated[
        bool,
        typer.Option("--chain", help="Check that each manifest's `previous` hashes the one before"),
    ] = False,
) -> None:
    """Check an export file against its manifest (hash, rows, signature), or a manifest chain."""
    settings: Settings = ctx.obj
    key = settings.export_signing_key.encode("utf-8") if settings.export_signing_key else None
    if not paths:
        raise ConfigError("verify", "give FILE [MANIFEST], or --chain M1 M2 ... (oldest first)")
    if chain:
        if len(paths) < 2:
            raise ConfigError("--chain", "give at least two manifests, oldest first")
        manifests = [read_manifest(p) for p in paths]
        names = [str(p) for p in paths]
        verdict = check_chain(manifests, names, signing_key=key)
        summary = (
            f"OK: {len(paths)} manifests of partner {manifests[0].get('partner_id')} "
            f"form a chain (head {manifest_digest(manifests[-1])[:16]}...)"
        )
        _report(verdict, summary, signed=key is not None)
        return
    if len(paths) > 2:
        raise ConfigError("verify", "give FILE and at most one MANIFEST (or use --chain)")
    file = paths[0]
    manifest_path = paths[1] if len(paths) == 2 else file.with_name(file.name + ".manifest.json")
    manifest = read_manifest(manifest_path)
    if not file.is_file():
        raise ConfigError(str(file), "no such file")
    verdict = check_file(file, manifest, signing_key=key)
    summary = (
        f"OK: {file} matches {manifest_path} ({manifest['rows']} rows, "
        f"sha256 {str(manifest['sha256'])[:16]}..., export {manifest['export_id']})"
    )
    _report(verdict, summary, signed=key is not None)


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest file parsed, or a ConfigError naming the path and what is wrong."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "no such manifest file") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "is a directory, not a manifest") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the manifest: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "is not UTF-8 text, so not a manifest") from None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            str(path), f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(manifest, dict):
        raise ConfigError(str(path), "is JSON but not a manifest (not an object)")
    missing = [name for name in REQUIRED if name not in manifest]
    if missing:
        raise ConfigError(str(path), f"is not a manifest (missing {', '.join(missing)})")
    return manifest


def _report(verdict: Verdict, summary: str, *, signed: bool) -> None:
    for note in verdict.notes:
        typer.echo(f"note: {note}", err=True)
    if verdict.ok:
        typer.echo(summary + (", signature valid" if signed else ""))
        return
    for mismatch in verdict.mismatches:
        typer.echo(f"MISMATCH {mismatch.name}: {mismatch.detail}")
    raise typer.Exit(MISMATCH_EXIT)
