"""Lifecycle hooks: Django signals a site can connect receivers to.

Every signal is sent with send_robust(), so a failing receiver is logged and
never changes what happens to a deposit. Signals fire in the process where the
event happens: deposit_received in the web process, the worker and ingest_*
signals in the worker, ingest_progress in the ingest's child process.

    worker_started(worker)           a worker process started consuming
    worker_stopped(worker)           it stopped
    deposit_received(deposit)        a deposit was committed as queued
    ingest_started(deposit_id, attempt, worker)
    ingest_progress(deposit_id, done, total)
    ingest_completed(deposit_id, seconds, files)
    ingest_failed(deposit_id, error)
    deposit_retried(deposit_id, reason)   queued again after a crash, a lost worker
                                          or message, or a user's retry
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

worker_started = Signal()
worker_stopped = Signal()
deposit_received = Signal()
ingest_started = Signal()
ingest_progress = Signal()
ingest_completed = Signal()
ingest_failed = Signal()
deposit_retried = Signal()


def send(signal, **kwargs):
    """Send `signal` to its receivers and log each receiver that raised."""
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "Receiver %r of a lifecycle signal raised %r (%s)",
                receiver,
                result,
                kwargs,
            )
