"""The service through Apache Kafka's SASL_SSL listener; refused logins stop start-up at once.

TLS with a CA made by the test and client certificates, then SASL PLAIN or SCRAM.

The broker comes from ``deploy/kafka/kafka.sh start --sasl-ssl-port``: a PKCS12 keystore and
truststore made here with openssl and keytool, SCRAM users written into its KRaft storage, PLAIN
users in its JAAS config, and client certificates required on that listener. Every client of
the service (admin, consumer, producer, state restore consumer, demo producer) goes through it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from apache_kafka import apache_kafka
from builders import ALPHA_BETA, encoded, interaction, mention
from pki import Pki, make_pki
from ports import free_port, free_ports
from prometheus_server import scraped_mentions
from socialpulse.core.pipeline import Pipeline
from socialpulse.demo.brands import DEMO_BRANDS
from socialpulse.kafka.changelog import state_topic_spec
from socialpulse.kafka.minutes import minutes_topic_spec
from socialpulse.kafka.options import client_options
from socialpulse.kafka.topics import TopicSpec, ensure_topics
from socialpulse.kafka.worker import Worker
from socialpulse.settings import Settings

pytestmark = pytest.mark.integration

STORE_PASSWORD = "store-pass-1"  # noqa: S105 - made up for the test broker
KEY_PASSWORD = "client-key-pass"  # noqa: S105
USER, PASSWORD = "pulse", "pulse-secret-1"
FAIL_WITHIN_S = 30


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH (openssl: apt-get install openssl; keytool: a JRE)")
    return path


def _run(*args: str) -> None:
    done = subprocess.run(  # noqa: S603 - installed tools, arguments built here
        [_tool(args[0]), *args[1:]], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr + done.stdout


@dataclass(frozen=True)
class SecureKafka:
    """A broker's SASL_SSL address and what a client needs to reach it."""

    bootstrap: str
    pki: Pki

    def kafka(self, **overrides: Any) -> dict[str, Any]:
        """Kafka settings for this listener: SCRAM-SHA-512 as USER, with a client certificate."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": USER,
            "sasl_password": PASSWORD,
            "ssl_cafile": str(self.pki.ca),
            "ssl_certfile": str(self.pki.client.cert),
            "ssl_keyfile": str(self.pki.client.key),
            "ssl_key_password": KEY_PASSWORD,
        } | overrides


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    work = tmp_path_factory.mktemp("secure-kafka")
    pki = make_pki(work / "pki", client_key_password=KEY_PASSWORD)
    keystore, truststore = work / "broker.p12", work / "trust.p12"
    _run(
        "openssl", "pkcs12", "-export", "-in", str(pki.server.cert), "-inkey", str(pki.server.key),
        "-certfile", str(pki.ca), "-name", "broker", "-out", str(keystore),
        "-passout", f"pass:{STORE_PASSWORD}",
    )  # fmt: skip
    _run(
        "keytool", "-importcert", "-noprompt", "-alias", "clients-ca", "-file", str(pki.ca),
        "-keystore", str(truststore), "-storetype", "PKCS12", "-storepass", STORE_PASSWORD,
    )  # fmt: skip
    [port] = free_ports(1)
    with apache_kafka(
        work / "data",
        "--sasl-ssl-port", str(port),
        "--keystore", str(keystore),
        "--truststore", str(truststore),
        "--store-password", STORE_PASSWORD,
        "--user", f"{USER}:{PASSWORD}",
        "--user", "other:other-secret",
    ):  # fmt: skip
        yield SecureKafka(f"127.0.0.1:{port}", pki)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
async def test_worker_consumes_through_sasl_ssl_and_counts_exactly(
    secure_kafka: SecureKafka, mechanism: str
) -> None:
    run = uuid.uuid4().hex[:8]
    topics = {name: f"secure-{run}-{name}" for name in ("m", "i", "dlq")}
    settings = Settings(
        kafka=secure_kafka.kafka(
            sasl_mechanism=mechanism,
            group_id=f"secure-{run}",
            mentions_topic=topics["m"],
            interactions_topic=topics["i"],
            dlq_topic=topics["dlq"],
            poll_timeout_ms=200,
        ),
        brands=ALPHA_BETA,
    )
    kafka = settings.kafka
    opts = client_options(kafka, secure_kafka.bootstrap)
    spec = TopicSpec(partitions=2)
    await ensure_topics(
        opts,
        {
            kafka.mentions_topic: spec,
            kafka.interactions_topic: spec,
            kafka.dlq_topic: spec,
            kafka.state_topic_name: state_topic_spec(2),
            kafka.minutes_topic_name: minutes_topic_spec(settings.anomaly),
        },
    )
    now = time.time()
    sent = {"alpha": 37, "beta": 23}
    producer = AIOKafkaProducer(enable_idempotence=False, acks="all", **opts)
    await producer.start()
    try:
        for term, count in sent.items():
            for n in range(count):
                event = mention(now - 5, author=f"{term}{n}", text=f"{term} is great")
                await producer.send_and_wait(kafka.mentions_topic, encoded(event))
        for n in range(11):
            like = interaction(now - 5, "impression", brand="a", user=f"v{n}")
            await producer.send_and_wait(kafka.interactions_topic, encoded(like))
        await producer.send_and_wait(kafka.mentions_topic, b"not json")  # to the dead letters
    finally:
        await producer.stop()

    pipeline = Pipeline(settings)
    worker = Worker(settings, pipeline, secure_kafka.bootstrap, time.time)
    await worker.start()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    expected = sum(sent.values()) + 11 + 1  # every record read counts, rejects included
    stats = pipeline.stats
    try:
        deadline = time.monotonic() + 90
        while sum(stats.processed.values()) < expected:
            assert time.monotonic() < deadline, f"processed only {pipeline.stats.processed}"
            assert not task.done(), task
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # nothing more arrives: counted exactly, not at least
    finally:
        stop.set()
        await task
        await worker.stop()
    assert dict(stats.processed) == {"mentions": 61, "interactions": 11}
    kpis = pipeline.store.snapshot(time.time())
    assert (kpis["a"]["5m"].mentions, kpis["b"]["5m"].mentions) == (37, 23)
    assert kpis["a"]["5m"].impressions == 11
    assert sum(stats.rejected.values()) == 1 and stats.rejected["invalid_json"] == 1

    # The state the worker checkpointed is restored through the same listener by a new worker.
    again = Pipeline(settings)
    successor = Worker(settings, again, secure_kafka.bootstrap, time.time)
    await successor.start()
    stop = asyncio.Event()
    task = asyncio.create_task(successor.run(stop))
    try:
        deadline = time.monotonic() + 90
        while not successor.stats.ready:
            assert time.monotonic() < deadline and not task.done(), task
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
        await successor.stop()
    assert again.store.snapshot(time.time())["a"]["5m"].mentions == 37
    assert sum(again.stats.processed.values()) == 0  # restored, not read again


def _socialpulse_run(env: dict[str, str], command: str = "run") -> subprocess.CompletedProcess[str]:
    """`socialpulse <command>` to its end, which a refused login must bring within the limit."""
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "socialpulse.cli", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=FAIL_WITHIN_S + 30,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _run_env(kafka: dict[str, Any], **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALPULSE_")}
    env |= {f"SOCIALPULSE_KAFKA__{k.upper()}": str(v) for k, v in kafka.items()}
    env |= {"SOCIALPULSE_BRANDS": json.dumps(ALPHA_BETA)}
    return env | {f"SOCIALPULSE_{k.upper()}": v for k, v in more.items()}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"sasl_password": "wrong-password"}, "refused SASL SCRAM-SHA-512 as user 'pulse'"),
        (
            {"sasl_mechanism": "PLAIN", "sasl_username": "nobody"},
            "refused SASL PLAIN as user 'nobody'",
        ),
        (
            {"sasl_mechanism": "SCRAM-SHA-256", "sasl_password": "other-secret"},
            "refused SASL SCRAM-SHA-256 as user 'pulse'",
        ),
    ],
)
def test_refused_login_stops_socialpulse_run_within_30_s(
    secure_kafka: SecureKafka, overrides: dict[str, str], expected: str
) -> None:
    started = time.monotonic()
    done = _socialpulse_run(
        _run_env(secure_kafka.kafka(**overrides), metrics_port=str(free_port()))
    )
    elapsed = time.monotonic() - started
    assert done.returncode != 0, done
    assert elapsed < FAIL_WITHIN_S, (elapsed, done)
    error = done.stderr
    assert f"Kafka broker {secure_kafka.bootstrap} {expected} over SASL_SSL" in error, error
    assert "SaslAuthenticationFailed" in error and "sasl_password" in error, error
    assert "Traceback" not in error, error


def test_topics_command_says_the_login_was_refused(secure_kafka: SecureKafka) -> None:
    """`socialpulse topics` goes through the same check as the service."""
    wrong = secure_kafka.kafka(sasl_password="nope-1")  # noqa: S106 - a wrong one on purpose
    done = _socialpulse_run(_run_env(wrong), "topics")
    assert done.returncode != 0, done
    assert f"Kafka broker {secure_kafka.bootstrap} refused SASL SCRAM-SHA-512" in done.stderr, done
    listed = _socialpulse_run(_run_env(secure_kafka.kafka()), "topics")
    # With the right password it reads the cluster: its topics are not created yet, and it says so.
    assert "Kafka broker" not in listed.stderr, listed
    assert "the mentions topic socialpulse.mentions is missing" in listed.stderr, listed


def test_untrusted_broker_certificate_stops_start_up(secure_kafka: SecureKafka) -> None:
    """A CA that did not sign the broker: TLS fails, named as such, before any login."""
    untrusted = secure_kafka.kafka(ssl_cafile=str(secure_kafka.pki.other_ca))
    started = time.monotonic()
    done = _socialpulse_run(_run_env(untrusted, metrics_port=str(free_port())))
    assert done.returncode != 0, done
    assert time.monotonic() - started < FAIL_WITHIN_S
    assert f"TLS with Kafka broker {secure_kafka.bootstrap} failed (SASL_SSL)" in done.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr and "ssl_cafile" in done.stderr


def test_missing_client_certificate_stops_start_up(secure_kafka: SecureKafka) -> None:
    """The listener requires one; without it the broker ends the handshake, named as such."""
    kafka = secure_kafka.kafka()
    for name in ("ssl_certfile", "ssl_keyfile", "ssl_key_password"):
        del kafka[name]
    started = time.monotonic()
    done = _socialpulse_run(_run_env(kafka, metrics_port=str(free_port())))
    assert done.returncode != 0, done
    assert time.monotonic() - started < FAIL_WITHIN_S
    assert f"TLS with Kafka broker {secure_kafka.bootstrap} failed" in done.stderr, done.stderr


def test_service_with_demo_traffic_runs_through_sasl_ssl(secure_kafka: SecureKafka) -> None:
    """`socialpulse run` as deployed: admin, consumer, producers and demo producer all log in."""
    run = uuid.uuid4().hex[:8]
    port = free_port()
    kafka = secure_kafka.kafka(
        sasl_mechanism="SCRAM-SHA-256",
        group_id=f"demo-{run}",
        mentions_topic=f"demo-{run}-m",
        interactions_topic=f"demo-{run}-i",
        dlq_topic=f"demo-{run}-dlq",
    )
    env = _run_env(kafka, metrics_port=str(port), demo="true")
    env["SOCIALPULSE_BRANDS"] = json.dumps([b.model_dump() for b in DEMO_BRANDS])
    proc = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "socialpulse.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while scraped_mentions(port) < 20:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no demo mentions counted after 90 s"
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert f"kafka {secure_kafka.bootstrap}," in out and "Traceback" not in out, out
