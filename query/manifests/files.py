"""The manifest file beside an export: `FILE.manifest.json`, in its canonical bytes.

Those bytes are what the next manifest's `previous` hashes (docs/contracts.md,
Verifiable exports), so the file is written whole or not at all: a temp
name renamed over the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from query.manifests.model import canonical_bytes


def manifest_path_for(path: Path) -> Path:
    """`FILE.manifest.json` beside `FILE`."""
    return path.with_name(path.name + ".manifest.json")


def write_manifest(manifest: Mapping[str, Any], path: Path) -> Path:
    """Write `manifest`'s canonical bytes to `path` atomically; returns `path`."""
    part = path.with_name(f".{path.name}.part")
    try:
        part.write_bytes(canonical_bytes(manifest))
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
    return path
