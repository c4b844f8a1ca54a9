"""CLI commands of the reading side: `query` (a table in the terminal) and `export`."""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import orjson
import typer

from activitylog.cli.jobs import run_job_export
from activitylog.cli.progress import human_size, with_download_progress
from activitylog.runtime import open_reader
from common.errors import ActivityLogError, BadQuery, ConfigError
from common.settings import Settings
from query.client import Request
from query.exports.cells import header_row
from query.exports.formats import EXPORT_EXTENSIONS, check_export
from query.filters import FILTER_FIELDS
from query.manifests.files import manifest_path_for, write_manifest
from schemas.readable.catalogs import check_language

FromOpt = Annotated[
    str | None, typer.Option("--from", help="First day (YYYY-MM-DD, inclusive) or RFC 3339 instant")
]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day (inclusive) or RFC 3339 instant")]
TzOpt = Annotated[str | None, typer.Option("--tz", help="Time zone of the dates (default UTC)")]
CustomerIdOpt = Annotated[str | None, typer.Option("--customer-id", help="Exact customer id")]
CustomerOpt = Annotated[
    str | None, typer.Option("--customer", help="Company name contains (any case)")
]
ActionOpt = Annotated[
    str | None, typer.Option("--action", help="Action, e.g. subscription.suspend, or a prefix")
]
UserOpt = Annotated[str | None, typer.Option("--partner-user", help="Partner user (exact)")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="Outcome or order status")]
TextOpt = Annotated[str | None, typer.Option("-q", "--text", help="Free-text search")]


def cli_request(from_: str | None, to: str | None, tz: str | None, *filters: str | None) -> Request:
    """The request for the filter options, given in `FILTER_FIELDS` order.

    Typer reads each option from the command's own signature, so the options
    are spelled out there; their values map onto the one list of filters here.
    """
    return Request(from_, to, tz, dict(zip(FILTER_FIELDS, filters, strict=True)))


def query(
    ctx: typer.Context,
    from_: FromOpt = None,
    to: ToOpt = None,
    tz: TzOpt = None,
    customer_id: CustomerIdOpt = None,
    customer: CustomerOpt = None,
    action: ActionOpt = None,
    partner_user: UserOpt = None,
    status: StatusOpt = None,
    text: TextOpt = None,
    limit: Annotated[int, typer.Option(help="Rows to show (1-1000)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after a page (the cursor a previous page printed)")
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the readable texts: en or fr")] = "en",
) -> None:
    """Show activity for a date range, newest first (default: the most recent month)."""
    settings: Settings = ctx.obj
    req = cli_request(from_, to, tz, customer_id, customer, action, partner_user, status, text)
    req.time_range()  # bad dates fail here, before any connection is opened
    if not 1 <= limit <= 1000:
        raise BadQuery("--limit", "must be between 1 and 1000")
    check_language(lang)
    reader = open_reader(settings)
    try:
        page = reader.page(req, limit, cursor or None, lang)
    finally:
        reader.close()
    if as_json:
        for item in page.items:
            sys.stdout.write(orjson.dumps(item).decode() + "\n")
        if page.next_cursor:
            sys.stderr.write(f"next page: --cursor {page.next_cursor}\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False, expand=True)
    for title in header_row(lang)[:5]:
        table.add_column(title, overflow="fold")
    for item in page.items:
        table.add_row(
            str(item["occurred_at"]).replace("T", " ").removesuffix("Z"),
            item["customer_name"],
            item["action_text"],
            item["partner_user"],
            item["status_text"],
        )
    console = Console()
    console.print(table)
    more = f" (next page: --cursor {page.next_cursor})" if page.next_cursor else ""
    console.print(f"{len(page.items)} rows{more}")


def export(
    ctx: typer.Context,
    from_: FromOpt = None,
    to: ToOpt = None,
    tz: TzOpt = None,
    customer_id: CustomerIdOpt = None,
    customer: CustomerOpt = None,
    action: ActionOpt = None,
    partner_user: UserOpt = None,
    status: StatusOpt = None,
    text: TextOpt = None,
    fmt: Annotated[
        str,
        typer.Option("--format", help="csv, csv-fr (`;` for French Excel), xlsx, parquet or jsonl"),
    ] = "csv",
    lang: Annotated[
        str, typer.Option(help="Language of the readable columns and the headers: en or fr")
    ] = "en",
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="File to write (default exports/activity-FROM_TO.EXT)"),
    ] = None,
    no_manifest: Annotated[
        bool,
        typer.Option("--no-manifest", help="Do not write FILE.manifest.json beside the file"),
    ] = False,
    job: Annotated[
        bool,
        typer.Option(
            "--job",
            help="Run as an export job (in the running server, else here): "
            "a progress bar, and a download that resumes after a broken transfer",
        ),
    ] = False,
) -> None:
    """Export activity for a date range to CSV or xlsx (Excel-ready), Parquet or JSONL."""
    settings: Settings = ctx.obj
    try:
        check_export(fmt, lang)
    except BadQuery as exc:
        raise BadQuery(f"--{exc.param}", exc.reason) from None
    req = cli_request(from_, to, tz, customer_id, customer, action, partner_user, status, text)
    first, last = req.time_range().label()
    path = output or Path("exports") / f"activity-{first}_{last}.{EXPORT_EXTENSIONS[fmt]}"
    started = time.monotonic()
    if job:  # a long range: the job runs apart from the download (query/cli_jobs.py)
        done = run_job_export(
            settings,
            req,
            fmt,
            lang,
            path,
            progress=sys.stderr.isatty(),
            manifest=not no_manifest,
            manifest_path=manifest_path_for(path),
        )
        typer.echo(
            f"wrote {path}: {done.rows:,} rows, {human_size(done.bytes)} ({done.bytes:,} bytes) "
            f"in {time.monotonic() - started:.1f}s (export job {done.export_id})"
        )
        if done.manifest_path is not None:
            typer.echo(f"wrote {done.manifest_path} (export {done.export_id})")
        return
    result = write_export(
        settings, req, fmt, lang, path, progress=sys.stderr.isatty(), manifest=not no_manifest
    )
    elapsed = time.monotonic() - started
    rows = "?" if result.rows is None else f"{result.rows:,}"
    typer.echo(
        f"wrote {path}: {rows} rows, {human_size(result.bytes)} ({result.bytes:,} bytes) "
        f"in {elapsed:.1f}s"
    )
    if result.manifest_path is not None:
        typer.echo(f"wrote {result.manifest_path} (export {result.export_id})")


@dataclass(frozen=True)
class Written:
    rows: int | None
    bytes: int
    export_id: str | None = None
    manifest_path: Path | None = None


def write_export(
    settings: Settings,
    req: Request,
    fmt: str,
    lang: str,
    path: Path,
    *,
    progress: bool = False,
    manifest: bool = False,
) -> Written:
    """Stream an export into `path` atomically (a temp file renamed on success).

    With `manifest`, the export's sealed manifest (the server's, or this
    process's own when it reads the store directly) is checked against the
    bytes received and written beside the file as `FILE.manifest.json`, in
    its canonical bytes (what the next manifest's `previous` hashes).

    With `progress`, a rich progress bar on stderr counts rows (estimated
    from record separators as bytes arrive; exact for JSONL) against the
    server's row count.
    """
    if path.is_dir():
        raise ConfigError("--output", f"{path} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    reader = open_reader(settings)
    written = 0
    digest = hashlib.sha256()  # of the bytes received, checked against the manifest
    manifest_file: Path | None = None
    try:
        download = reader.export(req, fmt, lang)
        try:
            with tmp.open("wb") as out:
                for chunk in with_download_progress(download, fmt) if progress else download.chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
        except OSError as exc:  # our side (disk full, no permission): the export failed here
            download.abort(f"the CLI could not write {path}: {exc.strerror or exc}")
            raise ConfigError("--output", f"cannot write {path}: {exc.strerror or exc}") from exc
        except KeyboardInterrupt:
            download.abort("interrupted in the CLI")
            raise
        sealed = download.manifest() if manifest else None
        if sealed is not None:
            _check_received(sealed, digest.hexdigest(), path)
        tmp.replace(path)
        if sealed is not None:
            manifest_file = write_manifest(sealed, manifest_path_for(path))
    finally:
        reader.close()
        tmp.unlink(missing_ok=True)
    return Written(download.rows, written, download.export_id, manifest_file)


def _check_received(sealed: dict[str, object], sha256: str, path: Path) -> None:
    """Refuse a file whose bytes differ from what was sealed (a broken transfer).

    The hash alone: the same bytes have the same rows and event times.
    """
    if sealed.get("sha256") != sha256:
        raise ActivityLogError(
            f"{path}: the bytes received do not match the export's manifest "
            f"(sha256 {sha256} != {sealed.get('sha256')}); nothing was written, "
            "run the export again"
        )
