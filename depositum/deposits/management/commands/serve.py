import logging
import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections
from gunicorn.app.base import BaseApplication

logger = logging.getLogger(__name__)


class WebServer(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from depositum.wsgi import application

        return application


class Command(BaseCommand):
    help = (
        "Run the web server (gunicorn) and a worker together: the single-machine"
        " set-up. Applies pending migrations and collects static files first."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--bind", default="127.0.0.1:8000", help="HOST:PORT to listen on"
        )
        parser.add_argument(
            "--web-workers", type=int, default=2, help="gunicorn worker processes"
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="run only the web server, for hosts where workers run apart",
        )

    def handle(self, bind, web_workers, no_worker, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        # gunicorn forks its workers from this process: they must not share a
        # database connection with it.
        connections.close_all()

        worker = None
        if not no_worker:
            worker = subprocess.Popen(
                [sys.executable, "-m", "depositum", "worker"], env=os.environ.copy()
            )
            logger.info("Started worker process %s", worker.pid)

        try:
            WebServer(
                {
                    "bind": bind,
                    "workers": web_workers,
                    "worker_class": "gthread",
                    "threads": 8,
                    "timeout": 120,
                    "accesslog": "-",
                    # Several servers on one host would share its one socket.
                    "control_socket_disable": True,
                }
            ).run()
        finally:
            if worker is not None:
                stop_worker(worker)


def stop_worker(worker):
    if worker.poll() is not None:
        return
    # SIGTERM lets the worker finish its running ingests for STOP_TIMEOUT
    # seconds, then hand the rest back to the queue.
    worker.send_signal(signal.SIGTERM)
    timeout = settings.STOP_TIMEOUT + 30
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        logger.warning(
            "Worker process %s did not stop in %ss; killing it", worker.pid, timeout
        )
        worker.kill()
        worker.wait()
