"""State changes of a deposit, each a conditional update on its row.

A worker claims a deposit with a token, and every later write names that token.
So a worker presumed dead cannot overwrite the state of a newer attempt.
"""

import logging
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from depositum.deposits import signals
from depositum.deposits.models import Deposit, State
from depositum.queue import call_twice

logger = logging.getLogger(__name__)


def enqueue(deposit_id):
    """Hand the deposit's id to the queue, with a second attempt if the first fails.

    A duplicate message is harmless, because claim() ignores a deposit that is
    no longer queued. A second failure is logged and not raised: the deposit
    row is already committed as queued, and the reconciler hands it to the
    queue again later.
    """
    from depositum.deposits.tasks import ingest_deposit

    try:
        call_twice(
            lambda: ingest_deposit(deposit_id),
            f"Could not hand deposit {deposit_id} to the queue",
        )
    except Exception:
        logger.exception(
            "Could not hand deposit %s to the queue; the reconciler retries it",
            deposit_id,
        )
        return False

    Deposit.objects.filter(id=deposit_id).update(enqueued_at=timezone.now())
    return True


def claim(deposit_id):
    """Move a queued deposit to processing and return the new owner token.

    Return None if the deposit is not queued, for example because another
    worker claimed it first after a duplicate message.
    """
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = Deposit.objects.filter(id=deposit_id, state=State.QUEUED).update(
        state=State.PROCESSING,
        worker_token=token,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    if not claimed:
        logger.info("Deposit %s is not queued; another worker has it", deposit_id)
        return None
    return token


def owned(deposit_id, token):
    return Deposit.objects.filter(
        id=deposit_id, worker_token=token, state=State.PROCESSING
    )


def finished(deposit_id, token):
    """Return whether the attempt with `token` recorded the deposit's end."""
    return Deposit.objects.filter(
        id=deposit_id, worker_token=token, state__in=(State.COMPLETED, State.FAILED)
    ).exists()


def heartbeat(deposit_id, token):
    return owned(deposit_id, token).update(heartbeat_at=timezone.now()) == 1


def report_progress(deposit_id, token, done, total):
    owned(deposit_id, token).update(
        progress_done=done, progress_total=total, heartbeat_at=timezone.now()
    )


def fail(deposit_id, token, message, warnings=None):
    fields = {"state": State.FAILED, "error": message, "finished_at": timezone.now()}
    if warnings is not None:
        fields["warnings"] = warnings
    updated = owned(deposit_id, token).update(**fields)
    if updated:
        logger.warning("Deposit %s failed: %s", deposit_id, message)
        remove_stored_files(deposit_id)
    return bool(updated)


def remove_stored_files(deposit_id):
    """Remove the access copies that dead attempts of a failed deposit stored.

    An ingest stores its files under MEDIA_ROOT/aips/<AIP UUID>/<deposit UUID>
    before it writes the catalogue, and a crash leaves them there.
    """
    deposit_uuid = Deposit.objects.filter(id=deposit_id).values_list("uuid", flat=True)
    for folder in Path(settings.MEDIA_ROOT).glob(f"aips/*/{deposit_uuid.first()}"):
        logger.info("Deposit %s: removing files of a failed ingest", deposit_id)
        shutil.rmtree(folder, ignore_errors=True)


def retry(deposit_id, token, message):
    """Queue a deposit again after a failed attempt, if attempts remain.

    The message stays in `error` while the deposit waits, so its status shows
    why it is being tried again. Return True if it was queued.
    """
    return bool(
        owned(deposit_id, token)
        .filter(attempts__lt=settings.MAX_ATTEMPTS)
        .update(
            state=State.QUEUED,
            worker_token="",
            enqueued_at=None,
            progress_done=0,
            error=message,
        )
    )


def requeue_failed(deposit_id, username):
    """Queue a failed deposit again for a fresh set of attempts.

    Staff or the depositor ask for this after they fixed the cause, for example
    a broken METS in the deposit directory. The package of a failed deposit
    stays where it was received, so the next attempt reads it again. The old
    error is logged, then cleared with the progress and timestamps. Return True
    if the deposit was failed and is now queued. The message is handed to the
    queue after the transaction commits.
    """
    previous = Deposit.objects.filter(id=deposit_id, state=State.FAILED)
    error = previous.values_list("error", flat=True).first()
    updated = previous.update(
        state=State.QUEUED,
        worker_token="",
        enqueued_at=None,
        attempts=0,
        progress_done=0,
        progress_total=0,
        warnings=[],
        error="",
        started_at=None,
        finished_at=None,
        heartbeat_at=None,
    )
    if not updated:
        logger.info(
            "Deposit %s was not queued again, because it is not failed", deposit_id
        )
        return False

    logger.warning(
        "Deposit %s queued again by %s after the error: %s",
        deposit_id,
        username,
        error,
    )
    signals.send(
        signals.deposit_retried, deposit_id=deposit_id, reason=f"retried by {username}"
    )
    transaction.on_commit(lambda: enqueue(deposit_id))
    return True


def attempts(deposit_id):
    return (
        Deposit.objects.filter(id=deposit_id).values_list("attempts", flat=True).first()
    )


def hand_back(deposit_id, token):
    """Return a deposit whose ingest was stopped to the queue, uncounted."""
    return bool(
        owned(deposit_id, token).update(
            state=State.QUEUED,
            worker_token="",
            enqueued_at=None,
            attempts=F("attempts") - 1,
            progress_done=0,
        )
    )


def requeue_or_fail_stale(now=None):
    """Return deposits whose worker stopped sending heartbeats to the queue.

    A deposit that has used up DEPOSITUM_MAX_ATTEMPTS fails instead, so a DIP
    that kills every worker does not loop forever. Return the ids requeued.
    """
    now = now or timezone.now()
    cutoff = now - timezone.timedelta(seconds=settings.STALE_AFTER)
    stale = Deposit.objects.filter(state=State.PROCESSING, heartbeat_at__lt=cutoff)

    requeued = []
    for deposit in stale.only("id", "attempts", "worker_token"):
        owner = owned(deposit.id, deposit.worker_token).filter(heartbeat_at__lt=cutoff)
        if deposit.attempts >= settings.MAX_ATTEMPTS:
            message = (
                f"The ingest stopped without finishing in each of {deposit.attempts}"
                " attempts (no heartbeat from its worker): the DIP may be too big"
                " for the worker's memory, or the worker host went down. See the"
                f" worker log for deposit {deposit.id}"
            )
            if owner.update(state=State.FAILED, error=message, finished_at=now):
                signals.send(
                    signals.ingest_failed, deposit_id=deposit.id, error=message
                )
            logger.warning(
                "Deposit %s failed after %d attempts", deposit.id, deposit.attempts
            )
            continue

        if owner.update(state=State.QUEUED, worker_token="", enqueued_at=None):
            signals.send(
                signals.deposit_retried, deposit_id=deposit.id, reason="no heartbeat"
            )
            logger.warning(
                "Deposit %s had no heartbeat since %s; queued again",
                deposit.id,
                cutoff.isoformat(),
            )
            requeued.append(deposit.id)
    return requeued


def requeue_lost(now=None):
    """Hand queued deposits whose message was lost to the queue again.

    A deposit counts as lost when it has been queued for REQUEUE_AFTER seconds
    and no pending message carries its id. Return the ids queued again.
    """
    from depositum.deposits.tasks import pending_deposit_ids

    now = now or timezone.now()
    cutoff = now - timezone.timedelta(seconds=settings.REQUEUE_AFTER)
    waiting = Deposit.objects.filter(state=State.QUEUED, created_at__lt=cutoff)
    ids = set(waiting.values_list("id", flat=True))
    if not ids:
        return []

    lost = sorted(ids - pending_deposit_ids())
    for deposit_id in lost:
        logger.warning(
            "Deposit %s has no message in the queue; queued again", deposit_id
        )
        enqueue(deposit_id)
    return lost
