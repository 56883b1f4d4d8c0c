"""Health check and Prometheus metrics of the deposit service.

The metrics are read from the database and the queue when they are scraped, so
they cover every worker on every host, whichever web process serves them.
"""

import logging
import time

from django.db import connection
from django.db.models import Count, F, Sum
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily

from depositum.deposits.models import Deposit, State, Worker
from depositum.queue import call_twice

logger = logging.getLogger(__name__)

# Workers silent for longer than this drop out of the metrics: a killed worker
# never marks itself stopped.
WORKER_METRIC_MAX_AGE = 600


def healthz(request):
    """Return 200 if the database and the queue respond, else 503."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as e:
        logger.error("Health check: database failed: %s", e)
        checks["database"] = f"failed: {type(e).__name__}"
    try:
        queue_length()
        checks["queue"] = "ok"
    except Exception as e:
        logger.error("Health check: queue failed: %s", e)
        checks["queue"] = f"failed: {type(e).__name__}"

    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)


class DepositCollector:
    def collect(self):
        by_state = dict(
            Deposit.objects.values_list("state").annotate(Count("id")).order_by()
        )
        deposits = GaugeMetricFamily(
            "depositum_deposits", "Deposits by state", labels=["state"]
        )
        for state in State.values:
            deposits.add_metric([state], by_state.get(state, 0))
        yield deposits

        completed = Deposit.objects.filter(
            state=State.COMPLETED, started_at__isnull=False
        ).aggregate(
            count=Count("id"),
            seconds=Sum(F("finished_at") - F("started_at")),
            files=Sum("progress_total"),
        )
        seconds = completed["seconds"].total_seconds() if completed["seconds"] else 0
        duration = SummaryMetricFamily(
            "depositum_ingest_duration_seconds",
            "Time from claim to completion of completed ingests",
        )
        duration.add_metric([], completed["count"], seconds)
        yield duration
        yield GaugeMetricFamily(
            "depositum_ingest_files_per_second",
            "Files stored per second over all completed ingests",
            value=(completed["files"] or 0) / seconds if seconds else 0,
        )

        yield GaugeMetricFamily(
            "depositum_queue_depth",
            "Messages waiting in the queue",
            value=queue_depth(),
        )

        heartbeats = GaugeMetricFamily(
            "depositum_worker_last_heartbeat_timestamp_seconds",
            "When each running worker last reported itself alive",
            labels=["worker"],
        )
        cutoff = timezone.now() - timezone.timedelta(seconds=WORKER_METRIC_MAX_AGE)
        workers = Worker.objects.filter(stopped_at=None, heartbeat_at__gte=cutoff)
        for worker in workers:
            heartbeats.add_metric([worker.name], worker.heartbeat_at.timestamp())
        yield heartbeats


def queue_depth():
    try:
        return queue_length()
    except Exception:
        logger.warning("Metrics: queue depth not read", exc_info=True)
        return float("nan")


def queue_length():
    """Return the number of waiting messages, reading the queue twice if needed,
    because one failed read after a lost connection does not mean that the
    queue is down."""
    return call_twice(HUEY.pending_count, "Queue length not read")


def metrics(request):
    started = time.monotonic()
    registry = CollectorRegistry()
    registry.register(DepositCollector())
    body = generate_latest(registry)
    logger.debug("Metrics collected in %.3fs", time.monotonic() - started)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
