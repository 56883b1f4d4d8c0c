import logging
import os
import socket
import threading
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from depositum.deposits import runner, signals
from depositum.deposits.models import Worker

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run a worker: a Huey consumer that ingests queued deposits, each in a"
        " child process, and runs the reconciler every minute. SIGTERM lets the"
        " running ingests finish for up to DEPOSITUM_STOP_TIMEOUT seconds, then"
        " hands them back to the queue."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.WORKER_THREADS,
            help="ingests run at once (default: DEPOSITUM_WORKER_THREADS, 2)",
        )

    def handle(self, threads, **options):
        # Registers the tasks with the consumer.
        import depositum.deposits.tasks  # noqa: F401

        runner.context()
        consumer = HUEY.create_consumer(
            workers=threads,
            worker_type="thread",
            periodic=True,
            check_worker_health=True,
            # Poll an idle queue at least four times a second, so a deposit
            # waits at most that long for an idle worker. With one second, the
            # wait was half a second on average, a twentieth of the ingest of
            # a 10,000-file DIP.
            max_delay=0.25,
            graceful_signal="TERM",
            shutdown_timeout=settings.STOP_TIMEOUT,
        )
        worker = register_worker()
        beating = threading.Event()
        threading.Thread(
            target=beat, args=(worker, beating), name="worker-heartbeat", daemon=True
        ).start()
        logger.info(
            "Worker %s started: %d ingest threads, queue %s",
            worker.name,
            threads,
            redact(settings.QUEUE_URL),
        )
        signals.send(signals.worker_started, worker=worker)
        try:
            consumer.run()
        finally:
            runner.hand_back_running()
            beating.set()
            Worker.objects.filter(id=worker.id).update(stopped_at=timezone.now())
            logger.info("Worker %s stopped", worker.name)
            signals.send(signals.worker_stopped, worker=worker)


def redact(url):
    """Return `url` with any password replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def register_worker():
    hostname = socket.gethostname()
    now = timezone.now()
    worker, _ = Worker.objects.update_or_create(
        name=f"{hostname}:{os.getpid()}",
        defaults={
            "hostname": hostname,
            "pid": os.getpid(),
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
        },
    )
    return worker


def beat(worker, stop):
    while not stop.wait(settings.HEARTBEAT_INTERVAL):
        try:
            close_old_connections()
            Worker.objects.filter(id=worker.id).update(heartbeat_at=timezone.now())
        except Exception:
            logger.warning(
                "Worker %s: heartbeat not written", worker.name, exc_info=True
            )
