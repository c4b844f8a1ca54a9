"""The manifest file beside an export: its name, its canonical bytes, written whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from query.manifests.files import manifest_path_for, write_manifest
from query.manifests.model import canonical_bytes

MANIFEST = {"export_id": "exp_x", "partner_id": "ptn-é", "rows": 2, "previous": None}


def test_the_manifest_sits_beside_its_file() -> None:
    path = Path("exports") / "activity-2026-11-01_2026-11-30.csv"
    assert manifest_path_for(path) == path.with_name(
        "activity-2026-11-01_2026-11-30.csv.manifest.json"
    )


def test_the_file_holds_the_canonical_bytes_and_no_temp_file_stays(tmp_path: Path) -> None:
    target = tmp_path / "a.csv.manifest.json"
    target.write_bytes(b"an older manifest")
    assert write_manifest(MANIFEST, target) == target
    assert target.read_bytes() == canonical_bytes(MANIFEST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv.manifest.json"]


def test_a_failed_write_leaves_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.csv.manifest.json"
    target.write_bytes(b"the previous manifest")

    def refuse(self: Path, target: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_manifest(MANIFEST, target)
    assert target.read_bytes() == b"the previous manifest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv.manifest.json"]
