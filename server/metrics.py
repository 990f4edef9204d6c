"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streaming.speculative import SpeculativeStats

TRANSIT_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Submit to delivered: one round trip when the receiver answers, minutes when it needs retries."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions_active = Gauge("streamscribe_sessions_active", "Open live sessions", registry=r)
        self.sessions_total = Counter("streamscribe_sessions_total", "Live sessions accepted", registry=r)
        self.twilio_calls = Counter("streamscribe_twilio_streams_total", "Twilio Media Streams accepted", registry=r)
        self.subscribers = Gauge("streamscribe_call_subscribers", "Sockets following a live call's events", registry=r)
        self.sessions_refused = Counter(
            "streamscribe_sessions_refused_total", "Live sessions refused", ["reason"], registry=r
        )
        self.audio_seconds = Counter("streamscribe_audio_seconds_total", "Audio received, seconds", registry=r)
        self.jobs_submitted = Counter("streamscribe_jobs_submitted_total", "Jobs submitted", ["kind"], registry=r)
        self.queue_depth = Gauge("streamscribe_jobs_queued", "Jobs waiting", ["kind"], registry=r)
        self.jobs_running = Gauge("streamscribe_jobs_running", "Jobs in a Whisper call", registry=r)
        self.queue_wait = Histogram(
            "streamscribe_job_queue_seconds",
            "Job submitted to a worker starting it",
            ["kind"],
            buckets=TRANSIT_BUCKETS + LATENCY_BUCKETS[1:],
            registry=r,
        )
        self.result_transit = Histogram(
            "streamscribe_result_transit_seconds",
            "Result published by a worker to read by the gateway (distributed mode)",
            buckets=TRANSIT_BUCKETS,
            registry=r,
        )
        self.whisper_seconds = Histogram(
            "streamscribe_whisper_seconds", "Whisper call time", ["kind"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.batch_size = Histogram(
            "streamscribe_batch_jobs",
            "Jobs decoded together in one Whisper call",
            buckets=(1, 2, 3, 4, 6, 8, 16),
            registry=r,
        )
        self.end_of_turn = Histogram(
            "streamscribe_end_of_turn_seconds",
            "Segment closed to its final result sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._declare_live_pacing(r)
        self.errors = Counter("streamscribe_errors_total", "Errors by kind", ["kind"], registry=r)
        self.workers_warm = Gauge("streamscribe_workers_warm", "Warm Whisper workers", registry=r)
        self.archive_recordings = Counter(
            "streamscribe_archive_recordings_total",
            "Recordings by archive outcome: stored, spooled (store unavailable), drained (uploaded from the spool)",
            ["outcome"],
            registry=r,
        )
        self.spool_recordings = Gauge(
            "streamscribe_archive_spool_recordings", "Recordings in the local spool waiting for the store", registry=r
        )
        self.spool_bytes = Gauge("streamscribe_archive_spool_bytes", "Bytes in the local spool", registry=r)
        self._declare_webhooks(r)

    def _declare_live_pacing(self, r: CollectorRegistry) -> None:
        """How the live pipeline paces its Whisper work: speculative finals and the interim step."""
        # Final jobs started in a pause before endpointing: submitted, then used or wasted (speech resumed).
        self.speculative_finals = Counter(
            "streamscribe_speculative_finals_total", "Speculative finals by outcome", ["outcome"], registry=r
        )
        self.speculative_wasted_audio = Counter(
            "streamscribe_speculative_wasted_audio_seconds_total", "Audio of wasted speculative finals", registry=r
        )
        # Live finals a worker reached late and decoded on a short window (server/jobs/hurry.py).
        self.hurried_finals = Counter(
            "streamscribe_hurried_finals_total", "Live finals decoded on a short window after waiting", registry=r
        )
        self.interim_step = Gauge(
            "streamscribe_interim_step_seconds",
            "Audio an open segment gains between interim jobs under the current worker load; +Inf: paused",
            registry=r,
        )

    def _declare_webhooks(self, r: CollectorRegistry) -> None:
        """Webhook deliveries (server/webhooks.py): outcomes, attempts, delay and backlog."""
        self.webhook_deliveries = Counter(
            "streamscribe_webhook_deliveries_total",
            "Webhook deliveries by outcome: delivered, failed (a final answer, attempts exhausted, refused "
            "or given up at shutdown), dropped (too many pending, or the sender not running)",
            ["outcome"],
            registry=r,
        )
        for outcome in ("delivered", "failed", "dropped"):
            self.webhook_deliveries.labels(outcome)
        self.webhook_attempts = Counter(
            "streamscribe_webhook_attempts_total", "Webhook POSTs tried, retries included", registry=r
        )
        self.webhook_delivery_seconds = Histogram(
            "streamscribe_webhook_delivery_seconds",
            "Webhook submitted to delivered (a 2xx answer), retries included",
            buckets=WEBHOOK_BUCKETS,
            registry=r,
        )
        self.webhook_pending = Gauge(
            "streamscribe_webhook_pending", "Webhook deliveries submitted and not yet finished", registry=r
        )

    def count_speculative(self, stats: SpeculativeStats) -> None:
        """Add an ended session's speculative-final counters."""
        self.speculative_finals.labels("submitted").inc(stats.submitted)
        self.speculative_finals.labels("used").inc(stats.used)
        self.speculative_finals.labels("wasted").inc(stats.wasted)
        self.speculative_wasted_audio.inc(stats.wasted_audio_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
