"""The service wired from settings: broker, topics, worker, HTTP, demo traffic and summary.

Everything started here is stopped in reverse order when ``stop`` is set, on every exit path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from socialpulse import __version__
from socialpulse.app.alerting import AlertDispatcher
from socialpulse.app.collection import freeze_when_restored
from socialpulse.app.evaluator import Evaluator
from socialpulse.app.spill import SpillFiles
from socialpulse.app.topics import service_topics
from socialpulse.core.alerts.build import campaign_events
from socialpulse.core.clock import Clock
from socialpulse.core.native import NOT_USED
from socialpulse.core.pipeline import Pipeline
from socialpulse.core.windows.timeline import Source
from socialpulse.demo.driver import run_demo
from socialpulse.export.alert_metrics import AlertCollector, DetectorReading
from socialpulse.export.basic_auth import BasicAuth
from socialpulse.export.collector import KpiCollector, register_metrics, sliced_snapshot
from socialpulse.export.loop_holds import LoopHoldCollector, LoopHolds, watch_loop
from socialpulse.export.server import PROBE_PATHS, HttpServer, build_app
from socialpulse.export.summary import summary_line
from socialpulse.export.webconfig import (
    WebConfig,
    WebConfigError,
    load_web_config,
    server_ssl_context,
)
from socialpulse.export.webhooks import WebhookSender
from socialpulse.kafka.access import check_access
from socialpulse.kafka.alerts import AlertLog
from socialpulse.kafka.embedded import EmbeddedBroker
from socialpulse.kafka.options import client_options, producer_options
from socialpulse.kafka.topics import ensure_topics
from socialpulse.kafka.worker import Worker
from socialpulse.settings import Settings

log = logging.getLogger(__name__)

# How often copy-paste campaigns are looked for and their alert events sent.
CAMPAIGN_EVERY_SECONDS = 5.0

Printer = Callable[[str], None]


async def run_service(
    settings: Settings,
    stop: asyncio.Event,
    out: Printer,
    clock: Clock = time.time,
) -> None:
    """Run until ``stop`` is set; ``out`` receives the start-up lines and the live summary.

    ``stop`` set while still starting (waiting for the cluster, restoring nothing yet) ends
    start-up at once: what was started is stopped, and it returns normally.
    """
    starting = _StartUp(stop)
    try:
        await _serve(settings, stop, out, clock, starting)
    except asyncio.CancelledError:
        if not starting.interrupted:
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        out("socialpulse stopped before start-up finished")
    finally:
        starting.done()


class _StartUp:
    """Cancels the starting task when ``stop`` is set before ``done``.

    A Ctrl-C or SIGTERM must not wait out ``kafka.startup_timeout_seconds``.
    """

    def __init__(self, stop: asyncio.Event) -> None:
        self.interrupted = False
        self.finished = False
        self._task = asyncio.current_task()
        self._watch = asyncio.create_task(self._cancel_on(stop), name="start-up-stop")

    async def _cancel_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        if self._task is not None:
            self.interrupted = True
            self._task.cancel()

    def done(self) -> None:
        """Start-up is over: from here ``stop`` is the running service's business."""
        self.finished = True
        self._watch.cancel()


async def _serve(
    settings: Settings, stop: asyncio.Event, out: Printer, clock: Clock, starting: _StartUp
) -> None:
    web_config = _web_config(settings)
    # First: a scorer named in settings that cannot be loaded stops start-up before anything runs.
    cold = SpillFiles(settings.dedup_spill_dir) if settings.dedup_spill else None
    if cold is not None and (in_memory := cold.warning()):
        log.warning("%s", in_memory)
    pipeline = Pipeline(settings, cold=cold)
    if NOT_USED is not None:
        log.warning("%s", NOT_USED)
    async with AsyncExitStack() as stack:
        if cold is not None:
            stack.callback(cold.close)  # last: the worker's final checkpoint reads from it
        if settings.embedded:
            broker = EmbeddedBroker()
            out("starting the embedded Kafka-compatible broker (Tansu, in memory) ...")
            await broker.start()
            stack.push_async_callback(broker.stop)
            bootstrap = broker.bootstrap_servers
        else:
            assert settings.kafka.bootstrap_servers is not None  # noqa: S101 - embedded covers None
            bootstrap = settings.kafka.bootstrap_servers
        kafka = settings.kafka
        opts = client_options(kafka, bootstrap)
        await check_access(opts)  # a refused login stops start-up here, not in endless retries
        # One deadline for every start-up step that needs the cluster (kafka/startup.py).
        deadline = time.monotonic() + kafka.startup_timeout_seconds

        worker = Worker(settings, pipeline, bootstrap, clock)
        stack.push_async_callback(worker.stop)  # its clients, should start-up end before it
        registry = CollectorRegistry()
        collector = register_metrics(registry, pipeline, clock, worker.stats)
        holds = LoopHolds()
        registry.register(LoopHoldCollector(holds))
        alerts = await _alerts(settings, opts, stack)
        evaluator = Evaluator(
            settings,
            opts,
            lambda: worker.restored,
            alerts.dispatcher,
            pipeline.store,
            clock,
            # The evaluator's own partitions' trends: the top terms and hashtags of its events.
            trends=pipeline.signals.trends_of if settings.trends.enabled else None,
        )
        registry.register(
            AlertCollector(
                (b.id for b in settings.brands),
                lambda: alerts.dispatcher.scores,
                alerts.log.stats,
                alerts.webhooks.stats if alerts.webhooks is not None else None,
                lambda: DetectorReading(
                    evaluating=evaluator.stats.active,
                    minutes=evaluator.stats.minutes,
                    incomplete=evaluator.stats.incomplete,
                    last_minute=evaluator.stats.last_minute,
                    too_late=evaluator.stats.too_late,
                    skipped=alerts.dispatcher.skipped,
                    minutes_published=worker.minutes.stats.published,
                    minutes_publish_failures=worker.minutes.stats.publish_failures,
                    minutes_rejected=evaluator.rejected,
                ),
            )
        )
        grace = settings.consumer_error_grace_seconds
        users = web_config.basic_auth_users
        app = build_app(
            registry,
            pipeline.store,
            clock,
            settings.top_k,
            ready=lambda: worker.stats.consuming(time.monotonic(), grace),
            # Waiting for the cluster within kafka.startup_timeout_seconds is not a hang.
            healthy=lambda: (
                not starting.finished
                or time.monotonic() - worker.stats.last_loop < settings.health_stall_seconds
            ),
            top_authors=settings.api_top_authors,
            auth=BasicAuth(users) if users else None,
            open_paths=PROBE_PATHS if settings.web_probes_open else (),
            prepare=collector.prepared,
            signals=pipeline.signals,
        )
        http = HttpServer(
            app, settings.metrics_host, settings.metrics_port, server_ssl_context(web_config)
        )
        # Serving before anything waits for the cluster: probes see a live, unready process.
        await http.start()
        stack.push_async_callback(http.stop)
        if kafka.create_topics:
            await ensure_topics(
                opts,
                dict(service_topics(settings).values()),
                timeout_s=deadline - time.monotonic(),
            )
        await alerts.log.start(deadline)
        await worker.start(deadline)
        stack.push_async_callback(_within, worker.stop(), settings.shutdown_timeout_seconds)

        demo = (
            f", demo traffic {settings.demo_events_per_second:g} ev/s"
            if settings.demo_enabled
            else ""
        )
        out(
            f"socialpulse {__version__}: kafka {bootstrap}"
            f"{' (embedded)' if settings.embedded else ''}, "
            f"brands {', '.join(b.id for b in settings.brands)}, "
            f"metrics {http.url}/metrics"
            f"{demo}"
            " — Ctrl-C stops"
        )
        starting.done()
        worker.stats.last_loop = time.monotonic()  # the loop's clock starts now, not at start-up
        tasks = [
            asyncio.create_task(worker.run(stop), name="worker"),
            asyncio.create_task(evaluator.run(stop), name="evaluator"),
            # The restored state out of the garbage collector's full walks (app/collection.py).
            asyncio.create_task(
                freeze_when_restored(lambda: worker.stats.ready, stop), name="gc-freeze"
            ),
            asyncio.create_task(watch_loop(holds, stop), name="loop-holds"),
        ]
        if settings.demo_enabled:
            producer = AIOKafkaProducer(
                acks=1, enable_idempotence=False, linger_ms=20, **producer_options(kafka), **opts
            )
            await producer.start()
            stack.push_async_callback(producer.stop)
            tasks.append(
                asyncio.create_task(
                    run_demo(
                        producer,
                        kafka.mentions_topic,
                        kafka.interactions_topic,
                        settings.demo_events_per_second,
                        clock,
                        random.Random(),  # noqa: S311 - demo traffic, not security
                        stop,
                    ),
                    name="demo",
                )
            )
        tasks.append(
            asyncio.create_task(
                _print_summary(settings, pipeline, worker, stop, out, clock, collector)
            )
        )
        if settings.spam.enabled and settings.spam.campaign_alerts:
            tasks.append(
                asyncio.create_task(
                    _campaign_alerts(
                        settings, pipeline, alerts.dispatcher, lambda: worker.restored, stop
                    ),
                    name="campaigns",
                )
            )
        stop_wait = asyncio.create_task(stop.wait())
        done: set[asyncio.Task[Any]] = set()
        try:
            done, _ = await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is stop_wait:
                    continue
                # Every task runs until ``stop``: one that ended before it stops the service.
                if t.cancelled():
                    raise RuntimeError(f"the {t.get_name()} task was cancelled from within")
                error = t.exception()
                if error is not None:
                    log.error("the %s task failed", t.get_name(), exc_info=error)
                    raise error
        finally:
            stop.set()
            stop_wait.cancel()
            deadline = time.monotonic() + settings.shutdown_timeout_seconds / 2
            for t in tasks:
                remaining = max(0.1, deadline - time.monotonic())
                # Waited for, not awaited: a task that failed or was cancelled is reported above.
                await asyncio.wait([t], timeout=remaining)
                if not t.done():
                    t.cancel()
                    # Before the worker stops: its checkpoint must not race a batch still in hand.
                    await asyncio.wait([t])
                elif t not in done and not t.cancelled() and t.exception() is not None:
                    log.error(
                        "the %s task failed while stopping", t.get_name(), exc_info=t.exception()
                    )
            if not any(t.cancelled() or t.exception() is not None for t in done - {stop_wait}):
                out("socialpulse stopped")


class _Alerts:
    """The alert delivery parts the service holds: the topic, the webhooks, the dispatcher."""

    def __init__(self, log_: AlertLog, webhooks: WebhookSender | None, d: AlertDispatcher):
        self.log = log_
        self.webhooks = webhooks
        self.dispatcher = d


async def _alerts(settings: Settings, opts: dict[str, Any], stack: AsyncExitStack) -> _Alerts:
    """The alerts topic's log (``start`` reads it back) and the webhook session, if any."""
    alert_log = AlertLog(settings.kafka.alerts_topic, opts, producer_options(settings.kafka))
    stack.push_async_callback(alert_log.stop)
    webhooks = None
    if settings.alerts.webhook_urls:
        webhooks = WebhookSender(settings.alerts)
        await webhooks.start()
        stack.push_async_callback(webhooks.stop)
    return _Alerts(alert_log, webhooks, AlertDispatcher(settings.alerts, alert_log, webhooks))


async def _within(stopping: Coroutine[Any, Any, None], seconds: float) -> None:
    """Run a stop step, but give up after ``seconds``: SIGTERM must end the process in time.

    Giving up is safe for the worker: offsets are committed only after the state they reflect,
    so the next owner re-reads what was not committed and skips what was already counted.
    """
    try:
        await asyncio.wait_for(stopping, timeout=seconds)
    except TimeoutError:
        log.error("shutdown step did not finish within %.0f s; exiting anyway", seconds)


def _web_config(settings: Settings) -> WebConfig:
    """The web config file's checked contents; an empty config (plain HTTP, open) without one."""
    if settings.web_config_file is None:
        return WebConfig()
    try:
        return load_web_config(settings.web_config_file)
    except WebConfigError as e:
        raise RuntimeError(str(e)) from e


async def _print_summary(
    settings: Settings,
    pipeline: Pipeline,
    worker: Worker,
    stop: asyncio.Event,
    out: Printer,
    clock: Clock,
    collector: KpiCollector,
) -> None:
    window = settings.windows[0]
    last = sum(pipeline.stats.processed.values())
    last_t = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.summary_interval_seconds)
        if stop.is_set():
            return
        now_count = sum(pipeline.stats.processed.values())
        now_t = time.monotonic()
        rate = (now_count - last) / max(now_t - last_t, 1e-9)
        last, last_t = now_count, now_t
        # The last scrape's copy when there was one since the last line (Prometheus scrapes
        # far more often): reading every brand again cost as much as a scrape.
        kpis = collector.recent(settings.summary_interval_seconds)
        if kpis is None:
            kpis = await sliced_snapshot(pipeline.store, clock())
        out(summary_line(kpis, pipeline.stats, rate, sum(worker.stats.lag.values()), window))


async def _campaign_alerts(
    settings: Settings,
    pipeline: Pipeline,
    dispatcher: AlertDispatcher,
    owned: Callable[[], frozenset[Source]],
    stop: asyncio.Event,
) -> None:
    """Every ``CAMPAIGN_EVERY_SECONDS``, send the events of the fleet's campaigns begun or ended.

    Only the owner of mentions partition 0 sends them, as only it runs the spike detector:
    one incident per campaign however many workers hold its posts. It waits for the fleet
    view (the trends topic read): a campaign's key is that of its earliest part in the fleet,
    the same the lead before it computed. Campaigns ride the trends topic: with trends off,
    every worker announces its own.
    """
    window_minutes = max(1, settings.spam.window_seconds // 60)
    lead = (settings.kafka.mentions_topic, 0)
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=CAMPAIGN_EVERY_SECONDS)
        if settings.trends.enabled:
            pipeline.signals.lead_campaigns(lead in owned() and pipeline.signals.fleet is not None)
        else:  # no trends topic: each worker announces its own partitions' campaigns
            pipeline.signals.lead_campaigns(True)
        transitions = pipeline.signals.campaign_transitions()
        if transitions and pipeline.signals.campaign_lead:
            events = campaign_events(transitions, settings.alerts, window_minutes)
            sent = await dispatcher.deliver(events)
            log.info("copy-paste campaigns: %d alert events, %d sent", len(events), sent)
