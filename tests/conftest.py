"""Brokers for the integration tests, started by the test session itself.

``kafka_bootstrap`` is the broker the tests run against, chosen by SOCIALPULSE_TEST_BROKER:

* ``kafka``: Apache Kafka from ``deploy/kafka/kafka.sh`` (needs Java 17+ and Maven; fails,
  never skips, without them);
* ``tansu``: the embedded broker (``socialpulse.kafka.embedded``), as ``tansu_bootstrap`` is;
* ``auto`` (the default): ``kafka`` when ``java`` and ``mvn`` are on PATH, else ``tansu``.

``tansu_bootstrap`` is always the embedded broker, so the zero-setup path is tested everywhere.
Both are session-scoped and start only when a test asks for them; every test gets topic names
of its own from ``topic_prefix``.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from apache_kafka import apache_kafka
from socialpulse.kafka.embedded import EmbeddedBroker

# Event builders and the fixtures that go with them, for every test folder.
pytest_plugins = ["builders"]

BROKER_ENV = "SOCIALPULSE_TEST_BROKER"
BROKER_CHOICES = ("kafka", "tansu", "auto")
REPO = Path(__file__).resolve().parents[1]


def _test_broker_kind() -> str:
    """The broker kind for ``kafka_bootstrap``: ``kafka`` or ``tansu``."""
    choice = os.environ.get(BROKER_ENV, "auto").strip().lower() or "auto"
    if choice not in BROKER_CHOICES:
        pytest.fail(
            f"{BROKER_ENV}={choice!r}: expected one of {', '.join(BROKER_CHOICES)}", pytrace=False
        )
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if choice == "auto":
        return "tansu" if missing else "kafka"
    if choice == "kafka" and missing:
        pytest.fail(
            f"{BROKER_ENV}=kafka needs Java 17+ and Maven to run Apache Kafka, but "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not on PATH. "
            f"Install them (Debian/Ubuntu: apt-get install openjdk-17-jre-headless maven) or "
            f"use {BROKER_ENV}=tansu.",
            pytrace=False,
        )
    return choice


@pytest.fixture(scope="session")
def apache_kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh single-node Apache Kafka started with ``deploy/kafka/kafka.sh``."""
    with apache_kafka(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tansu_bootstrap() -> AsyncIterator[str]:
    """The embedded Kafka-compatible broker (Tansu, in memory), for the whole session."""
    async with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap address of the test broker chosen by SOCIALPULSE_TEST_BROKER."""
    fixture = {"kafka": "apache_kafka_bootstrap", "tansu": "tansu_bootstrap"}
    bootstrap: str = request.getfixturevalue(fixture[_test_broker_kind()])
    return bootstrap


@pytest.fixture
def kafka_client_options(kafka_bootstrap: str) -> dict[str, Any]:
    """Keyword arguments of aiokafka clients for the test broker."""
    return {"bootstrap_servers": kafka_bootstrap}


@pytest.fixture
def topic_prefix(request: pytest.FixtureRequest) -> str:
    """A prefix no other test uses, for topic and group names: ``<test name>-<uuid>-``."""
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", request.node.name).strip("-")[:60]
    return f"{name}-{uuid.uuid4().hex[:12]}-"
