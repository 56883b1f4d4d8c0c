"""Run each ingest in a child process of the worker.

The child is forked from a forkserver that has imported Django and opened no
database connection, so every ingest starts from the same small process. Its
memory is returned when it exits, and a crash fails one deposit, not the worker.
"""

import logging
import multiprocessing
import signal
import threading

from django.conf import settings

from depositum.deposits import lifecycle, signals

logger = logging.getLogger(__name__)

# Imported once in the forkserver, so each child starts with Django loaded.
PRELOAD = ["depositum.deposits.child"]

# The ingests this process runs: {deposit id: (owner token, child process)}.
running = {}
running_lock = threading.Lock()
# Set when the worker stops; a child that exits then was stopped, not crashed.
stopping = threading.Event()


def context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def run_deposit(deposit_id, worker_name=""):
    """Claim the deposit, ingest it in a child process and watch the child."""
    if stopping.is_set():
        # The message stays unclaimed; the reconciler queues it again.
        return
    token = lifecycle.claim(deposit_id)
    if token is None:
        return
    with running_lock:
        if stopping.is_set():
            # The stop began between the check above and the claim.
            give_back(deposit_id, token)
            return
        running[deposit_id] = (token, None)

    from depositum.deposits.child import ingest_in_child

    process = context().Process(
        target=ingest_in_child, args=(deposit_id, token), name=f"ingest-{deposit_id}"
    )
    process.start()
    with running_lock:
        running[deposit_id] = (token, process)
    logger.info("Deposit %s: ingest started in process %s", deposit_id, process.pid)
    signals.send(
        signals.ingest_started,
        deposit_id=deposit_id,
        attempt=lifecycle.attempts(deposit_id),
        worker=worker_name,
    )

    try:
        watch(deposit_id, token, process)
    finally:
        with running_lock:
            running.pop(deposit_id, None)

    if process.exitcode != 0 and not stopping.is_set():
        after_crash(deposit_id, token, crash_message(deposit_id, process.exitcode))


def after_crash(deposit_id, token, message):
    """Queue a deposit whose ingest process died again, or fail it for good.

    A crash can be passing, for example when another ingest used the host's
    memory, so the deposit gets up to DEPOSITUM_MAX_ATTEMPTS claims. A DIP that
    kills every attempt then fails with the count.
    """
    if lifecycle.retry(deposit_id, token, message):
        logger.warning("Deposit %s queued again after a crash: %s", deposit_id, message)
        signals.send(signals.deposit_retried, deposit_id=deposit_id, reason=message)
        lifecycle.enqueue(deposit_id)
        return

    attempts = lifecycle.attempts(deposit_id)
    final = (
        f"{message} This was attempt {attempts} of {settings.MAX_ATTEMPTS}, so the"
        " deposit is not tried again"
    )
    if lifecycle.fail(deposit_id, token, final):
        signals.send(signals.ingest_failed, deposit_id=deposit_id, error=final)


def watch(deposit_id, token, process):
    """Wait for the child, sending heartbeats for the deposit meanwhile.

    A child that recorded the end of its attempt goes on to remove the
    deposit's package and unpacked folder. For a DIP of hundreds of thousands
    of files that takes longer than a heartbeat interval, so the child is left
    to finish. A child whose deposit another attempt took over is killed.
    """
    finished = False
    while True:
        process.join(settings.HEARTBEAT_INTERVAL)
        if process.exitcode is not None:
            return
        if finished or heartbeat(deposit_id, token):
            continue
        if lifecycle.finished(deposit_id, token):
            logger.info(
                "Deposit %s is finished; process %s is removing its files",
                deposit_id,
                process.pid,
            )
            finished = True
            continue
        logger.warning(
            "Deposit %s is no longer ours; stopping process %s",
            deposit_id,
            process.pid,
        )
        process.kill()


def heartbeat(deposit_id, token):
    try:
        return lifecycle.heartbeat(deposit_id, token)
    except Exception:
        # A long ingest holds SQLite's write lock; the heartbeat waits for it
        # and may time out without the deposit being lost.
        logger.warning("Deposit %s: heartbeat not written", deposit_id, exc_info=True)
        return True


def hand_back_running(timeout=10):
    """Stop the running ingests and return their deposits to the queue.

    An ingest writes the catalogue in one transaction, so a child stopped
    midway publishes nothing; the next attempt starts over.
    """
    stopping.set()
    with running_lock:
        ingests = list(running.items())

    for deposit_id, (token, process) in ingests:
        if process is not None:
            # The child ignores SIGTERM, which systemd sends to the whole group.
            process.kill()
            process.join(timeout)
        give_back(deposit_id, token)


def give_back(deposit_id, token):
    if lifecycle.hand_back(deposit_id, token):
        logger.warning("Deposit %s handed back to the queue at stop", deposit_id)
        signals.send(
            signals.deposit_retried, deposit_id=deposit_id, reason="worker stopped"
        )
        lifecycle.enqueue(deposit_id)


def crash_message(deposit_id, exitcode):
    if exitcode < 0:
        try:
            cause = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            cause = f"was killed by signal {-exitcode}"
    else:
        cause = f"exited with status {exitcode}"
    return (
        f"The ingest process of deposit {deposit_id} {cause} before it finished;"
        " nothing was published. A kill by SIGKILL usually means the worker host"
        " ran out of memory; the worker log may tell more."
    )
