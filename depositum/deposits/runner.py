"""Run each ingest in a child process of the worker.

The child is forked from a forkserver that has imported Django and opened no
database connection, so every ingest starts from the same small process. Its
memory is returned when it exits, and a crash fails one deposit, not the worker.
"""

import logging
import multiprocessing
import signal

from django.conf import settings

from depositum.deposits import lifecycle

logger = logging.getLogger(__name__)

# Imported once in the forkserver, so each child starts with Django loaded.
PRELOAD = ["depositum.deposits.child"]


def context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def run_deposit(deposit_id):
    """Claim the deposit, ingest it in a child process and watch the child."""
    token = lifecycle.claim(deposit_id)
    if token is None:
        return

    from depositum.deposits.child import ingest_in_child

    process = context().Process(
        target=ingest_in_child, args=(deposit_id, token), name=f"ingest-{deposit_id}"
    )
    process.start()
    logger.info("Deposit %s: ingest started in process %s", deposit_id, process.pid)

    while True:
        process.join(settings.HEARTBEAT_INTERVAL)
        if process.exitcode is not None:
            break
        if not heartbeat(deposit_id, token):
            logger.warning(
                "Deposit %s is no longer ours; stopping process %s",
                deposit_id,
                process.pid,
            )
            process.terminate()

    if process.exitcode != 0:
        lifecycle.fail(deposit_id, token, crash_message(deposit_id, process.exitcode))


def heartbeat(deposit_id, token):
    try:
        return lifecycle.heartbeat(deposit_id, token)
    except Exception:
        # A long ingest holds SQLite's write lock; the heartbeat waits for it
        # and may time out without the deposit being lost.
        logger.warning("Deposit %s: heartbeat not written", deposit_id, exc_info=True)
        return True


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
        " ran out of memory. Check the worker log, then deposit the DIP again"
    )
