"""Alert delivery wired: detector transitions become events, sent once to webhooks and the topic.

Order per event: skip it if the alerts topic already holds its key; else POST it to the
webhooks, then publish it to the topic, which records it as sent. A crash between the two
re-sends the webhooks after the restart (at least once, with the same ``Idempotency-Key``);
the topic itself never holds an event twice under compaction, and readers see one key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from socialpulse.core.alerts.build import events_of
from socialpulse.core.alerts.event import AlertEvent, encode_alert
from socialpulse.core.alerts.samples import SampleReservoir
from socialpulse.core.anomaly.detector import Detector, Evaluation
from socialpulse.core.trends import Trend
from socialpulse.core.windows.store import WindowStore
from socialpulse.export.webhooks import WebhookSender
from socialpulse.kafka.alerts import AlertLog
from socialpulse.settings import AlertSettings

log = logging.getLogger(__name__)


class AlertDispatcher:
    """Sends each (alert_id, status) once, whatever the replays, restarts and workers."""

    def __init__(
        self, settings: AlertSettings, alert_log: AlertLog, webhooks: WebhookSender | None
    ) -> None:
        self._s = settings
        self._log = alert_log
        self._webhooks = webhooks
        self._pending: list[AlertEvent] = []
        self.scores: dict[str, dict[str, float]] = {}
        self.skipped = 0  # events the topic already held

    async def on_evaluation(
        self,
        evaluation: Evaluation,
        detector: Detector,
        store: WindowStore,
        samples: SampleReservoir | None,
        trends: Callable[[str, float], Sequence[Trend]] | None = None,
    ) -> int:
        """Keep the evaluation's scores for export and deliver its transitions' events.

        ``trends`` (``TrendDetector.trends``) fills the events' top terms and hashtags.
        """
        self.scores = {b: dict(s) for b, s in evaluation.scores.items()}
        return await self.deliver(
            events_of(evaluation.transitions, detector, store, samples, self._s, trends)
        )

    async def deliver(self, events: Sequence[AlertEvent]) -> int:
        """Send the events not sent before; returns how many were sent now.

        When the topic cannot be read or refuses an event, the events not yet sent stay
        pending and go first next time: nothing is sent without knowing what was sent before.
        """
        queue = [*self._pending, *events]
        if not queue:
            return 0
        try:
            await self._log.catch_up()
        except RuntimeError as e:
            log.error("%s; %d alert events kept for the next attempt", e, len(queue))
            self._pending = queue
            return 0
        self._pending = []
        sent = 0
        for i, event in enumerate(queue):
            key = event.delivery_key
            if self._log.sent(key):
                self.skipped += 1
                continue
            body = encode_alert(event)
            if self._webhooks is not None:
                await self._webhooks.send(body, key)
            try:
                await self._log.publish(key, body)
            except RuntimeError as e:
                log.error("%s; %d alert events kept for the next attempt", e, len(queue) - i)
                self._pending = queue[i:]
                break
            sent += 1
        return sent
