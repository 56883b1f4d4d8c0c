"""Huey tasks. The queue carries only deposit ids, and the deposit row stores the rest."""

import logging
import os
import socket

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from depositum.deposits import lifecycle

logger = logging.getLogger(__name__)


@db_task(context=False)
def ingest_deposit(deposit_id):
    from depositum.deposits.runner import run_deposit

    run_deposit(deposit_id, worker_name=f"{socket.gethostname()}:{os.getpid()}")


@db_periodic_task(crontab(minute="*"))
def reconcile():
    reconcile_once()


def reconcile_once():
    """Requeue deposits whose worker died or whose message was lost.

    Safe to run on several hosts at once: every change is a conditional update,
    and a duplicate message is dropped when its deposit cannot be claimed.
    Return the ids queued again for each reason.
    """
    stale = lifecycle.requeue_or_fail_stale()
    for deposit_id in stale:
        lifecycle.enqueue(deposit_id)
    return stale, lifecycle.requeue_lost()


def pending_deposit_ids():
    """Return the deposit ids of the ingest messages waiting in the queue."""
    ids = set()
    for task in HUEY.pending():
        if task.name == ingest_deposit.task_class.__name__ and task.args:
            ids.add(task.args[0])
    return ids
