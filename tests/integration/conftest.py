"""Fixtures for integration tests: real components (docs/components.md).

Every test in tests/integration needs them, so no marker selects these tests:
the directory does. The broker is started once per session; tests get their
own topics or consumer groups on it rather than a broker each. A store is
opened per module instead: chDB holds one data directory per process at a
time, so each module's store is closed before the next module opens its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activitylog.devstack.kafka import KafkaStack
from common.net import free_port
from common.settings import Settings
from common.store import Store
from schemas.migrate import open_migrated
from tests.fixtures.activity import dataset, insert

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


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A real, migrated chDB store holding `dataset()`, shared by the tests of one module."""
    opened = open_migrated(f"chdb://{tmp_path_factory.mktemp('store') / 'ch'}")
    try:
        insert(opened, dataset())
        yield opened
    finally:
        opened.close()
