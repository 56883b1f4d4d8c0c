import logging

from django.conf import settings
from django.core.management.base import BaseCommand
from huey.contrib.djhuey import HUEY

from depositum.deposits import runner

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run a worker: a Huey consumer that ingests queued deposits, each in a"
        " child process, and runs the reconciler every minute."
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
            # Poll an idle queue at least every second, so a deposit waits at
            # most that long for a free worker.
            max_delay=1.0,
        )
        logger.info(
            "Worker started: %d ingest threads, queue %s", threads, settings.QUEUE_URL
        )
        try:
            consumer.run()
        finally:
            logger.info("Worker stopped")
