"""The destination contract without a store: URL guard, filters, secret derivation, signature."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from common.errors import BadQuery
from schemas.destinations import (
    NetworkPolicy,
    canonical_string,
    check_destination_url,
    derive_secret,
    parse_spec,
    pinned,
    sign,
    signature_valid,
)

STRICT = NetworkPolicy()
LOOPBACK = NetworkPolicy(allow_loopback=True)
PRIVATE = NetworkPolicy(allow_private=True)


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


def refused(url: str, policy: NetworkPolicy, *addresses: str) -> str:
    with pytest.raises(BadQuery) as caught:
        check_destination_url(url, policy, resolver(*addresses) if addresses else None)
    assert caught.value.param == "url"
    return caught.value.reason


def test_https_to_a_public_address_passes() -> None:
    assert check_destination_url("https://93.184.216.34/hook", STRICT) == ["93.184.216.34"]
    assert check_destination_url("https://siem.example/in", STRICT, resolver("8.8.8.8"))


@pytest.mark.parametrize(
    ("url", "addresses", "says"),
    [
        ("http://93.184.216.34/hook", (), "plain http:// is allowed only to loopback"),
        ("ftp://93.184.216.34/", (), "must start with https://"),
        ("https://user:pw@93.184.216.34/", (), "user name or password"),
        ("https:///nohost", (), "names no host"),
        ("https://10.1.2.3/", (), "private or link-local"),
        ("https://192.168.0.7/", (), "private or link-local"),
        ("https://[fe80::1]/", (), "private or link-local"),
        ("https://169.254.169.254/latest", (), "metadata"),
        ("https://127.0.0.1/", (), "loopback"),
        ("https://[::ffff:10.0.0.1]/", (), "private or link-local"),
        ("https://0.0.0.0/", (), "not a unicast address"),
        ("https://mixed.example/", ("8.8.8.8", "10.0.0.5"), "resolves to 10.0.0.5"),
        ("https://rebind.example/", ("127.0.0.1",), "loopback"),
    ],
)
def test_refusals_name_the_url_and_why(url: str, addresses: tuple[str, ...], says: str) -> None:
    assert says in refused(url, STRICT, *addresses)


def test_operator_settings_open_loopback_and_private_but_never_metadata() -> None:
    assert check_destination_url("http://127.0.0.1:9999/in", LOOPBACK) == ["127.0.0.1"]
    assert check_destination_url("https://10.1.2.3/", PRIVATE) == ["10.1.2.3"]
    assert "metadata" in refused("https://169.254.169.254/", NetworkPolicy(True, True))
    # Plain http to a private address stays refused: only loopback may skip TLS.
    assert "only to loopback" in refused("http://10.1.2.3/", NetworkPolicy(True, True))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "https://x.example", "topics": ["a"]}, "topics"),
        ({"url": "https://x.example", "kinds": ["refund"]}, "kinds"),
        ({"url": "https://x.example", "actions": [1, 2]}, "actions"),
        ({"url": "https://x.example", "customers": {"a": 1}}, "customers"),
        ({"url": "https://x.example", "description": "x" * 500}, "description"),
    ],
)
def test_bad_specs_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(BadQuery) as caught:
        parse_spec(body)
    assert caught.value.param == field


def test_filters_are_trimmed_deduplicated_and_accept_comma_text() -> None:
    spec = parse_spec({"url": " https://x.example/ ", "actions": "a, b,a", "kinds": ["order"]})
    assert (spec.url, spec.actions, spec.kinds, spec.customers) == (
        "https://x.example/",
        ("a", "b"),
        ("order",),
        (),
    )


def test_the_secret_depends_on_key_id_and_salt_only() -> None:
    one = derive_secret(b"k" * 32, "dst_1", "salt")
    assert one == derive_secret(b"k" * 32, "dst_1", "salt")
    assert one.startswith("whsec_")
    assert len({one, derive_secret(b"j" * 32, "dst_1", "salt")}) == 2
    assert len({one, derive_secret(b"k" * 32, "dst_2", "salt")}) == 2
    assert len({one, derive_secret(b"k" * 32, "dst_1", "pepper")}) == 2


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body, stamp, secret = b'{"activities":[]}', "1764878400", "whsec_abc"
    assert canonical_string(stamp, body) == b'1764878400.{"activities":[]}'
    expected = hmac.new(secret.encode(), b"1764878400." + body, hashlib.sha256).hexdigest()
    assert sign(secret, stamp, body) == "v1=" + expected
    assert signature_valid(secret, stamp, body, "v1=" + expected)
    assert not signature_valid(secret, "1764878401", body, "v1=" + expected)
    assert not signature_valid(secret, stamp, body + b" ", "v1=" + expected)


def test_a_request_is_pinned_to_the_checked_address_and_keeps_the_name() -> None:
    assert pinned("https://siem.example/in?x=1", "8.8.8.8") == (
        "https://8.8.8.8/in?x=1",
        "siem.example",
        {"sni_hostname": "siem.example"},
    )
    assert pinned("http://localhost:9000", "::1") == ("http://[::1]:9000/", "localhost:9000", {})
