"""Start-up against a cluster that is not there: it waits within its limit, and stops on request."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from ports import free_port as closed_port
from socialpulse.app.service import run_service
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.kafka.startup import patiently
from socialpulse.settings import Settings

pytestmark = pytest.mark.usefixtures("clean_environment")


def _settings(timeout_s: float) -> Settings:
    return Settings(
        brands=DEMO_BRANDS,
        metrics_host="127.0.0.1",
        metrics_port=0,
        kafka={
            "bootstrap_servers": f"127.0.0.1:{closed_port()}",
            "startup_timeout_seconds": timeout_s,
        },
    )


async def test_an_absent_cluster_is_waited_for_up_to_the_limit_then_named() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="could not reach the Kafka cluster in time"):
        await asyncio.wait_for(run_service(_settings(2), asyncio.Event(), print), 30)
    assert 2 <= time.monotonic() - started < 20


async def test_a_stop_while_waiting_for_the_cluster_ends_start_up_at_once() -> None:
    stop = asyncio.Event()
    lines: list[str] = []
    asyncio.get_running_loop().call_later(1.0, stop.set)
    started = time.monotonic()
    await asyncio.wait_for(run_service(_settings(300), stop, lines.append), 30)
    assert time.monotonic() - started < 15  # not the 300 s start-up limit
    assert lines[-1] == "socialpulse stopped before start-up finished"


async def test_patiently_retries_what_waiting_cures_and_raises_the_rest_at_once() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise KafkaConnectionError("Unable to bootstrap")
        return "up"

    assert await patiently(flaky, "connect", time.monotonic() + 30) == "up"
    assert len(calls) == 3

    async def refused() -> None:
        calls.append(1)
        raise TopicAuthorizationFailedError()

    calls.clear()
    with pytest.raises(TopicAuthorizationFailedError):
        await patiently(refused, "read", time.monotonic() + 30)
    assert len(calls) == 1

    async def down() -> None:
        raise KafkaConnectionError("Unable to bootstrap")

    with pytest.raises(RuntimeError, match=r"could not connect in time: KafkaConnectionError"):
        await patiently(down, "connect", time.monotonic() + 0.5)


async def test_waiting_for_the_cluster_is_healthy_but_not_ready() -> None:
    """An orchestrator must not restart a worker for waiting within its start-up limit."""
    port = closed_port()
    settings = Settings(
        brands=DEMO_BRANDS,
        metrics_host="127.0.0.1",
        metrics_port=port,
        health_stall_seconds=5,
        kafka={"bootstrap_servers": f"127.0.0.1:{closed_port()}", "startup_timeout_seconds": 60},
    )
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(settings, stop, lambda line: None))

    async def status(path: str) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        line = await reader.readline()
        writer.close()
        return int(line.split()[1])

    try:
        await asyncio.sleep(6.5)  # past health_stall_seconds with no consume loop yet
        assert await status("/healthz") == 200
        assert await status("/readyz") == 503
    finally:
        stop.set()
        await asyncio.wait_for(service, 30)
