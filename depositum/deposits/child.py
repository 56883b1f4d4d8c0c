"""The ingest of one deposit, run inside a child process of the worker."""

import ctypes
import logging
import shutil
import signal
import time
from pathlib import Path

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import IntegrityError, close_old_connections  # noqa: E402
from django.utils import timezone  # noqa: E402

from depositum.deposits import lifecycle, signals  # noqa: E402
from depositum.deposits.models import Deposit, State  # noqa: E402
from depositum.deposits.planning import (  # noqa: E402
    plan_deposit,
    remove_package,
    unpacked_dir,
)
from depositum.ingest.plan import IngestError  # noqa: E402
from depositum.ingest.writer import PlanWriter  # noqa: E402

logger = logging.getLogger(__name__)


class NotOurs(Exception):
    """The deposit was handed to another attempt while this one ran."""


def ingest_in_child(deposit_id, token):
    """Entry point of the child process: ingest the deposit and record the end."""
    name_process(f"ingest-{deposit_id}")
    # A stop signal to the whole process group (Ctrl-C, systemd's SIGTERM) is
    # for the worker, which decides whether this ingest finishes or is killed.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    close_old_connections()
    started = time.monotonic()
    deposit = Deposit.objects.select_related("target").get(id=deposit_id)
    try:
        ingest(deposit, token)
    except IngestError as e:
        if lifecycle.fail(
            deposit_id, token, str(e), warnings=getattr(e, "warnings", None)
        ):
            signals.send(signals.ingest_failed, deposit_id=deposit_id, error=str(e))
    except NotOurs:
        logger.warning("Deposit %s was taken over by another attempt", deposit_id)
    except Exception as e:
        logger.exception("Deposit %s: the ingest crashed", deposit_id)
        message = (
            f"The ingest failed with an internal error ({type(e).__name__}: {e})."
            " The worker log has the details; report it with the DIP if it recurs"
        )
        if lifecycle.fail(deposit_id, token, message):
            signals.send(signals.ingest_failed, deposit_id=deposit_id, error=message)
    else:
        seconds = time.monotonic() - started
        logger.info("Deposit %s completed in %.1fs", deposit_id, seconds)
        deposit.refresh_from_db(fields=["progress_total"])
        signals.send(
            signals.ingest_completed,
            deposit_id=deposit_id,
            seconds=seconds,
            files=deposit.progress_total,
        )
        remove_package(deposit)
    finally:
        shutil.rmtree(unpacked_dir(deposit), ignore_errors=True)


def write_with_retries(writer, complete, deposit_id, tries=3):
    """Write the catalogue rows, trying again when a concurrent ingest took a
    slug first: two transactions can pick the same free slug, and the unique
    index lets only one of them commit."""
    for attempt in range(1, tries + 1):
        try:
            return writer.write(on_commit_check=complete)
        except IntegrityError:
            if attempt == tries:
                raise
            logger.warning(
                "Deposit %s: a concurrent ingest took a slug; writing again",
                deposit_id,
            )


def name_process(name):
    """Show `name` for this process in ps and top, where Linux allows it."""
    try:
        libc = ctypes.CDLL(None)
        pr_set_name = 15
        libc.prctl(pr_set_name, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass


def ingest(deposit, token):
    if deposit.target is None:
        raise IngestError(
            f"The target description {deposit.target_slug!r} was deleted after the"
            " deposit was accepted: create it again and deposit the DIP again"
        )

    plan = plan_deposit(deposit, unpacked_dir(deposit))

    def on_progress(done, total):
        lifecycle.report_progress(deposit.id, token, done, total)
        signals.send(
            signals.ingest_progress, deposit_id=deposit.id, done=done, total=total
        )

    writer = PlanWriter(
        plan,
        deposit.target,
        media_folder=f"aips/{plan.aip_uuid}/{deposit.uuid}",
        on_progress=on_progress,
    )
    try:
        total = writer.store_files()

        def complete(aip, descriptions):
            top = (
                descriptions[plan.roots[0].key]
                if len(plan.roots) == 1
                else deposit.target
            )
            finished = lifecycle.owned(deposit.id, token).update(
                state=State.COMPLETED,
                finished_at=timezone.now(),
                # The reason for an earlier retry, if any, no longer applies.
                error="",
                progress_done=total,
                progress_total=total,
                warnings=plan.warnings,
                aip=aip,
                top_description=top,
                descriptions_created=len(descriptions),
            )
            if not finished:
                # Raising here rolls the whole ingest back.
                raise NotOurs()

        write_with_retries(writer, complete, deposit.id)
    except BaseException:
        shutil.rmtree(
            Path(settings.MEDIA_ROOT) / writer.media_folder, ignore_errors=True
        )
        raise
