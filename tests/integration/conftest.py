"""Session fixtures for integration tests: real components, started once (docs/components.md).

Every test in tests/integration needs them, so no marker selects these tests:
the directory does. Tests get their own topics or consumer groups on the
shared broker rather than a broker each.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activitylog.devstack.kafka import KafkaStack
from common.net import free_port
from common.settings import Settings

# First start on a machine also fetches the broker's jars with Maven (not
# counted here); after that a start takes a few seconds.
KAFKA_START_TIMEOUT = 180.0


@pytest.fixture(scope="session")
def kafka_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaStack]:
    """A real single-node Kafka broker on a free port, stopped at the end of the session.

    Started by the same launcher as `activitylog stack up`, with a throwaway
    state dir and the default jar cache (so jars are fetched once per machine).
    """
    settings = Settings.from_env().with_overrides(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        state_dir=tmp_path_factory.mktemp("kafka-state"),
    )
    stack = KafkaStack(settings)
    try:
        stack.up(timeout=KAFKA_START_TIMEOUT)
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_stack: KafkaStack) -> str:
    """The `host:port` of the session's broker, with the v1 topics created."""
    return kafka_stack.settings.kafka_bootstrap
