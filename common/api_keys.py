"""API keys with names, held only as HMACs under a server secret (docs/contracts.md, API keys).

An entry is `[NAME:]KEY=PARTNER` (in `ACTIVITYLOG_API_KEYS` or, one per line,
in `ACTIVITYLOG_API_KEYS_FILE`). The name says which key acted in export
history, manifests and audit events; a key without a name is labelled
`#` + 12 hex characters of its HMAC, stable while the secret is, and of no
use to anyone without the secret (an unsalted hash of a short key is not).

The secret is `ACTIVITYLOG_API_KEY_SECRET`, else a random one created once in
the state directory (`api-key-secret`, mode 0600), so labels survive restarts.
`KeyRing` keeps the HMACs, the labels and the partners, never the keys.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SECRET_FILE: Final = "api-key-secret"
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
UNNAMED_MARK: Final = "#"


@dataclass(frozen=True)
class KeyEntry:
    """One configured key: its name (None: unnamed), the key itself, its partner (or `*`)."""

    name: str | None
    key: str
    partner: str


def split_name(left: str) -> tuple[str | None, str]:
    """`NAME:KEY` -> (NAME, KEY); a left side without a valid name before `:` is all key.

    A key that itself contains `:` is therefore given with a name.
    """
    name, sep, key = left.partition(":")
    if sep and key and _NAME.fullmatch(name):
        return name, key
    return None, left


def check_name(name: str) -> str | None:
    """Why `name` cannot name a key, or None when it can."""
    if _NAME.fullmatch(name) is None:
        return f"key name {name[:20]!r} must be 1-64 letters, digits, '.', '_' or '-'"
    return None


def key_entries(keys: Mapping[str, str]) -> list[KeyEntry]:
    """The entries of a `{[NAME:]KEY: PARTNER}` mapping (the parsed setting)."""
    return [KeyEntry(*split_name(left), partner) for left, partner in keys.items()]


def server_secret(configured: str | None, state_dir: Path) -> bytes:
    """The HMAC secret: the configured one, else the state directory's (created once)."""
    if configured:
        return configured.encode("utf-8")
    path = state_dir / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_hex(32).encode())
    return path.read_bytes().strip()


@dataclass(frozen=True)
class KeyMatch:
    """Who a presented key is: its label (name, or `#` + HMAC prefix) and its partner."""

    label: str
    partner: str


class KeyRing:
    """The configured keys as HMAC-SHA256 digests; `match` compares in constant time."""

    def __init__(self, entries: list[KeyEntry], secret: bytes) -> None:
        self._secret = secret
        self._known: list[tuple[bytes, KeyMatch]] = []
        for entry in entries:
            digest = self._digest(entry.key)
            label = entry.name or UNNAMED_MARK + digest.hex()[:12]
            self._known.append((digest, KeyMatch(label, entry.partner)))

    def _digest(self, key: str) -> bytes:
        return hmac.new(self._secret, key.encode("utf-8"), hashlib.sha256).digest()

    def match(self, presented: str) -> KeyMatch | None:
        """The key's label and partner, or None; every entry is compared every time."""
        digest = self._digest(presented)
        found: KeyMatch | None = None
        for known, who in self._known:
            if hmac.compare_digest(digest, known):
                found = who
        return found

    def label_of(self, key: str) -> str | None:
        """The label of a configured key (None when it is not one)."""
        who = self.match(key)
        return None if who is None else who.label
