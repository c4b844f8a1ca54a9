"""The server's destinations key: what every destination's signing secret is derived from.

`ACTIVITYLOG_DESTINATIONS_KEY` when set (every process that creates destinations or
delivers to them must then share it); otherwise a random key created once in
STATE_DIR/destinations.key, readable by its owner only. Losing it changes every
destination's secret: partners would have to create their destinations again.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Final

from common.errors import ConfigError
from common.settings import Settings

KEY_FILE: Final = "destinations.key"
MIN_KEY_CHARS: Final = 32


def destinations_key(settings: Settings) -> bytes:
    """The key, from the setting or the state dir's key file (created on first use)."""
    if settings.destinations_key is not None:
        if len(settings.destinations_key) < MIN_KEY_CHARS:
            raise ConfigError(
                "ACTIVITYLOG_DESTINATIONS_KEY", f"must be at least {MIN_KEY_CHARS} characters"
            )
        return settings.destinations_key.encode()
    return _key_file(Path(settings.state_dir) / KEY_FILE)


def _key_file(path: Path) -> bytes:
    """Read the key file, or create it whole: written aside, then linked into place."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_hex(32).encode() + b"\n")
        try:
            os.link(aside, path)  # fails if another process linked its key first: keep that one
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError("ACTIVITYLOG_DESTINATIONS_KEY", f"{path} holds no usable key; remove it")
    return key
