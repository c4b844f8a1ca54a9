"""Kafka probes and the admin client: does a broker answer, and why a Kafka call failed.

Every Kafka failure that means "the broker is not there or did not answer"
becomes `common.errors.BrokerUnavailable` naming the bootstrap address, so the
CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import kafka.errors as kafka_errors
from kafka import KafkaAdminClient

from common.errors import BrokerUnavailable
from common.net import tcp_open

log = logging.getLogger(__name__)


class _AdminClient(KafkaAdminClient):  # type: ignore[misc]  # kafka-python is untyped
    """`KafkaAdminClient` that stops its I/O thread when bootstrapping fails.

    kafka-python 3.0 starts a background I/O thread before it bootstraps, and a
    bootstrap failure raises out of `__init__` with that thread still running;
    a process that probes a missing broker in a loop would collect one thread
    per attempt.
    """

    def __init__(self, **configs: Any) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            client = getattr(self, "_client", None)
            net = getattr(self, "_net", None)
            with contextlib.suppress(Exception):
                if client is not None:
                    client.close()
            with contextlib.suppress(Exception):
                if net is not None:
                    net.stop()
            raise


@contextlib.contextmanager
def admin_client(bootstrap: str, timeout: float) -> Iterator[_AdminClient]:
    """An admin client bound to `bootstrap`, closed on exit; Kafka errors become ours."""
    timeout_ms = max(1, int(timeout * 1000))
    try:
        client = _AdminClient(
            bootstrap_servers=bootstrap,
            client_id="activitylog-admin",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=timeout_ms,
            # Give up on a dead address quickly instead of backing off for 30 s.
            reconnect_backoff_max_ms=1000,
        )
    except (kafka_errors.KafkaError, OSError) as exc:
        raise BrokerUnavailable(
            f"Kafka at {bootstrap} did not answer within {timeout:g} s ({kafka_reason(exc)}); "
            "is the broker running? (`activitylog stack up` starts a local one)"
        ) from exc
    try:
        yield client
    except (kafka_errors.KafkaError, OSError) as exc:
        raise BrokerUnavailable(
            f"Kafka at {bootstrap} failed a request: {kafka_reason(exc)}"
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            client.close()


def broker_answers(bootstrap: str, timeout: float = 3.0) -> bool:
    """Whether a broker at `bootstrap` answers a metadata request within `timeout` seconds.

    For polling (the launcher waits on it); never raises for an absent broker.
    When no bootstrap address accepts a TCP connection the answer is an
    immediate no, instead of kafka-python retrying until the timeout.
    """
    if not any(tcp_open(server, min(timeout, 2.0)) for server in bootstrap.split(",")):
        return False
    try:
        with admin_client(bootstrap, timeout) as admin:
            admin.list_topics()
    except BrokerUnavailable as exc:
        log.debug("no answer from %s: %s", bootstrap, exc)
        return False
    return True


def check_broker(bootstrap: str, timeout: float = 10.0) -> None:
    """Fail fast with one clear line (`BrokerUnavailable`) when Kafka does not answer."""
    if not broker_answers(bootstrap, timeout):
        raise BrokerUnavailable(
            f"cannot reach Kafka at {bootstrap} within {timeout:.0f}s; "
            "start one with `activitylog stack up` or set ACTIVITYLOG_KAFKA_BOOTSTRAP"
        )


def kafka_reason(exc: BaseException) -> str:
    """A short, one-line reason for a Kafka client exception."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    # kafka-python's errors already start their text with the class name.
    if not text or text.startswith(name):
        return text or name
    return f"{name}: {text}"
