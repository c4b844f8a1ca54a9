"""API keys with names: parsed from the variable and a keys file, held and labelled as HMACs."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from common.api_keys import SECRET_FILE, KeyMatch, KeyRing, key_entries, server_secret, split_name
from common.errors import ConfigError
from common.settings import Settings


def test_named_and_unnamed_entries_side_by_side() -> None:
    s = Settings.from_env({"ACTIVITYLOG_API_KEYS": "ana:k1=ptn-1, k2=*"})
    assert s.api_keys == {"ana:k1": "ptn-1", "k2": "*"}
    entries = key_entries(s.api_keys)
    assert [(e.name, e.key, e.partner) for e in entries] == [
        ("ana", "k1", "ptn-1"),
        (None, "k2", "*"),
    ]
    assert "k1" not in repr(s)  # the keys never show in a settings dump


def test_a_key_with_a_colon_is_given_with_a_name() -> None:
    assert split_name("ops:a:b") == ("ops", "a:b")
    assert split_name("bad name:k") == (None, "bad name:k")  # not a name: all of it is the key
    assert split_name("k-only") == (None, "k-only")


def test_keys_file_joins_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# analysts\nana:k1=ptn-1\n\nbob:k2=ptn-2, k3=*\n", encoding="utf-8")
    s = Settings.from_env(
        {"ACTIVITYLOG_API_KEYS": "ops:k0=*", "ACTIVITYLOG_API_KEYS_FILE": str(path)}
    )
    assert s.api_keys == {"ops:k0": "*", "ana:k1": "ptn-1", "bob:k2": "ptn-2", "k3": "*"}
    alone = Settings.from_env({"ACTIVITYLOG_API_KEYS_FILE": str(path)})
    assert alone.api_keys is not None and len(alone.api_keys) == 3


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"ACTIVITYLOG_API_KEYS": "ana:k1=p,ana:k2=p"}, "ACTIVITYLOG_API_KEYS", "given twice"),
        ({"ACTIVITYLOG_API_KEYS": "a:k1=p,b:k1=q"}, "ACTIVITYLOG_API_KEYS", "given twice"),
        ({"ACTIVITYLOG_API_KEYS": "ana:k1"}, "ACTIVITYLOG_API_KEYS", "NAME:KEY=PARTNER_ID"),
        ({"ACTIVITYLOG_API_KEYS_FILE": "/nonexistent/keys"}, "ACTIVITYLOG_API_KEYS_FILE", "cannot"),
    ],
)
def test_bad_key_configuration_names_the_variable(
    env: dict[str, str], variable: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert variable in caught.value.message and reason in caught.value.message
    assert "k1=" not in caught.value.message


def test_the_same_key_in_the_file_and_the_variable_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("ana:k1=ptn-1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="given twice"):
        Settings.from_env({"ACTIVITYLOG_API_KEYS": "k1=*", "ACTIVITYLOG_API_KEYS_FILE": str(path)})


def test_the_server_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = server_secret(None, tmp_path / "state")
    assert len(first) == 64 and server_secret(None, tmp_path / "state") == first
    mode = stat.S_IMODE((tmp_path / "state" / SECRET_FILE).stat().st_mode)
    assert mode == 0o600
    assert server_secret("configured", tmp_path / "state") == b"configured"


def test_labels_are_stable_per_secret_and_not_an_unsalted_hash() -> None:
    entries = key_entries({"abc": "ptn-1", "ops:xyz": "*"})
    ring = KeyRing(entries, b"s1")
    label = ring.label_of("abc")
    assert label is not None and label.startswith("#") and len(label) == 13
    assert label == KeyRing(entries, b"s1").label_of("abc")
    assert label != KeyRing(entries, b"s2").label_of("abc")
    assert hashlib.sha256(b"abc").hexdigest()[:12] not in label
    assert ring.match("xyz") == KeyMatch("ops", "*")
    assert ring.match("abcd") is None
